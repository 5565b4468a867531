"""The names of the metrics SAC-SVG(H) reports: flat top-level keys of each training iteration's result
(progress.csv, W&B, TensorBoard). The sweeps' progress line and the dashboards' loader read them from here."""

# Per iteration (algorithm.py).
ENV_STEPS = "env_steps"  # env steps so far; the sweeps' stop criterion
ENV_STEPS_PER_S = "env_steps_per_s"
TRAIN_RETURN = "train_return"  # mean return of the iteration's training episodes
EVAL_RETURN = "eval_return"  # mean return of the evaluation episodes, on evaluation iterations only
EVAL_VIDEO = "eval_video_file"  # the MP4 of the evaluated policy (config eval_video), on evaluation iterations
DONE = "done"  # the run reached total_env_steps
ENV_RUNNER_RESTARTS = "env_runner_restarts"  # env runner processes replaced after a crash, so far
WORLD_MODEL_DTYPE = "world_model_dtype"  # the dtype of the world model's matrix products ("auto" resolved)

# Per update, averaged over the iteration (learner.py).
LOSS_ACTOR = "loss_actor"  # eq. 10 (eq. 8 during the SAC-actor warm-up)
LOSS_ALPHA = "loss_alpha"  # eq. 9
LOSS_CRITIC = "loss_critic"  # eq. 5, or the value-expanded critic loss of critic_mve
LOSS_REWARD = "loss_reward"  # eq. 12
LOSS_TERMINATION = "loss_termination"  # eq. 13
LOSS_DYNAMICS = "loss_dynamics"  # eq. 11 (mlp_ensemble: the mean of its members' one-step losses)
ALPHA = "alpha"  # the temperature
POLICY_ENTROPY = "policy_entropy"  # -E[log pi(u|x)]
TARGET_ENTROPY = "target_entropy"  # eq. 14 at the current env step
MODEL_ERROR = "model_error"  # the dynamics' multi-step squared error on the newest transitions
LEARNER_MS_PER_UPDATE = "learner_ms_per_update"
NUM_UPDATES = "num_updates"
SKIPPED_UPDATES = "skipped_updates"  # updates skipped for a non-finite loss or gradient, summed over the iteration
REPLAY_SIZE = "replay_size"
# The per-update metrics above, which an iteration without updates (the random warm-up's) leaves out.
LEARNER_METRICS = (LOSS_ACTOR, LOSS_ALPHA, LOSS_CRITIC, LOSS_REWARD, LOSS_TERMINATION, LOSS_DYNAMICS, ALPHA,
                   POLICY_ENTROPY, TARGET_ENTROPY, MODEL_ERROR, LEARNER_MS_PER_UPDATE, NUM_UPDATES, SKIPPED_UPDATES,
                   REPLAY_SIZE)
