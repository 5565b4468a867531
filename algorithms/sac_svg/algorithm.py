"""SACSVG: Algorithm 1 as an RLlib Algorithm on the new API stack.

Each `training_step` collects a fragment of env steps on the env runners (env_runner.py; uniformly random
actions for the first `num_random_steps`), hands the transitions to the learner, which stores them and runs
Algorithm 1's updates for every one of those env steps, and sends the new actor and normalizer to the env runners
with the next request.
RLlib repeats `training_step` until `report_interval_steps` env steps make one `train()` iteration. With
`overlap_sampling`, the next fragment is requested before the learner updates on the current one.
"""
import math
import pathlib
import time

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EVALUATION_RESULTS,
    FAULT_TOLERANCE_STATS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)
from ray.tune.result import SHOULD_CHECKPOINT

from algorithms.sac_svg import checkpoint, policy_file
from algorithms.sac_svg.checkpoint import CheckpointError
from algorithms.sac_svg.config import SACSVGConfig
from algorithms.sac_svg.env_runner import Sampling, transitions_of
from algorithms.sac_svg.guard import NonFiniteUpdateError
from algorithms.sac_svg.metrics import (
    DONE,
    ENV_RUNNER_RESTARTS,
    ENV_STEPS,
    ENV_STEPS_PER_S,
    EVAL_RETURN,
    NUM_UPDATES,
    REPLAY_SIZE,
    SKIPPED_UPDATES,
    TARGET_ENTROPY,
    TRAIN_RETURN,
    WORLD_MODEL_DTYPE,
)


class SACSVG(Algorithm):
    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> SACSVGConfig:
        return SACSVGConfig()

    @override(Algorithm)
    def setup(self, config) -> None:
        super().setup(config)
        self._learner_stats: list[dict[str, float]] = []
        self._last_save, self._save_seconds = time.monotonic(), 0.0
        self._last_checkpoint = "none yet (the trial restarts from its beginning)"
        self._sampling = Sampling(self.env_runner_group)
        self._acting_state = None

    @override(Algorithm)
    def training_step(self) -> None:
        if not self._sampling.pending:
            self._request_fragment()
        samples, env_runner_metrics = self._sampling.collect()
        self.metrics.aggregate(env_runner_metrics, key=ENV_RUNNER_RESULTS)
        if self.config.overlap_sampling:  # the env runners sample the next fragment during this update
            self._request_fragment()
        transitions = transitions_of(samples)
        if not transitions:
            return
        outputs = self._on_learners(lambda learner, transitions: (learner.update_from_transitions(transitions),
                                                                  learner.rl_module.acting_state()),
                                    transitions=transitions)
        self._learner_stats += [stats for stats, _ in outputs]
        self._acting_state = outputs[0][1]  # sent with the next request

    def _request_fragment(self) -> None:
        """Ask the env runners for their next fragment, acting with the learner's newest weights (read from the
        learner at an iteration's first request, so that a restore or set_state between iterations is seen)."""
        if self._acting_state is None:
            self._acting_state = self._on_learners(lambda learner: learner.rl_module.acting_state())[0]
        self._sampling.request(random_actions=self.env_steps() < self.config.num_random_steps,
                               acting_state=self._acting_state)

    def _on_learners(self, fn, **kwargs) -> list:
        """fn(learner, **kwargs) on every learner (the local one, or each remote one), its results in order."""
        return [result.get() for result in self.learner_group.foreach_learner(fn, **kwargs)]

    @override(Algorithm)
    def step(self) -> dict:
        """RLlib's iteration, plus the paper's metrics as flat top-level keys (docs/sweeps.md: outputs)."""
        start, steps_before = time.perf_counter(), self.env_steps()
        evaluates = (self.iteration + 1) % self.config.evaluation_interval == 0  # as RLlib decides
        self._acting_state = None
        try:
            results = super().step()
        except Exception as error:
            if not _is_nonfinite(error):
                raise
            message = str(error).strip().splitlines()[-1].removeprefix(f"{NonFiniteUpdateError.__name__}: ")
            raise NonFiniteUpdateError(f"{message}; last good checkpoint: {self._last_checkpoint}") from error
        env_steps = self.env_steps()
        results.update(_weighted_mean(self._learner_stats))
        self._learner_stats = []
        results[ENV_STEPS] = env_steps
        results[ENV_STEPS_PER_S] = (env_steps - steps_before) / (time.perf_counter() - start)
        results[TRAIN_RETURN] = results.get(ENV_RUNNER_RESULTS, {}).get("episode_return_mean", math.nan)
        evaluation = results.get(EVALUATION_RESULTS, {}).get(ENV_RUNNER_RESULTS, {})
        if evaluates and "episode_return_mean" in evaluation:
            results[EVAL_RETURN] = evaluation["episode_return_mean"]
            policy_file.keep_if_best(self, results[EVAL_RETURN])
        results[DONE] = env_steps >= self.config.total_env_steps
        results[ENV_RUNNER_RESTARTS] = results.get(FAULT_TOLERANCE_STATS, {}).get("num_remote_worker_restarts", 0)
        results[WORLD_MODEL_DTYPE] = self.config.resolved_world_model_dtype
        results[SHOULD_CHECKPOINT] = self._checkpoint_due()
        return results

    def _checkpoint_due(self) -> bool:
        """Tune checkpoints every `checkpoint_every` iterations; this adds one whenever `checkpoint_every_s`
        seconds have passed since the last save, so a fault never costs more than that much training. As
        the replay buffer grows, so does a save: they are spaced at least 10 saves' time apart, which
        keeps saving under a tenth of the run."""
        every = self.config.checkpoint_every_s
        return every is not None and time.monotonic() - self._last_save >= max(every, 10 * self._save_seconds)

    @override(Algorithm)
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        start = time.monotonic()
        super().save_checkpoint(checkpoint_dir)
        self._last_save = time.monotonic()
        self._save_seconds = self._last_save - start
        self._last_checkpoint = f"the one of iteration {self.iteration} (env step {self.env_steps()})"

    @override(Algorithm)
    def save_to_path(self, path=None, *args, **kwargs) -> str:
        """RLlib's save, made atomic and given a manifest (algorithms/sac_svg/checkpoint.py)."""
        if path is None:
            return super().save_to_path(path, *args, **kwargs)
        checkpoint.write_atomically(pathlib.Path(path), lambda folder: super(SACSVG, self).save_to_path(
            folder, *args, **kwargs), self.config, self.env_steps())
        return str(path)

    @override(Algorithm)
    def restore(self, checkpoint_path) -> None:
        """Tune's restore of a trial, from the private copy `checkpoint.checked_copy` makes: Tune unpickles a
        `_dict_checkpoint.pkl` it finds in the folder it restores from, and that copy never holds one."""
        from ray.train._internal.checkpoint_manager import _TrainingResult
        from ray.tune import Checkpoint

        if isinstance(checkpoint_path, str):
            checkpoint_path = Checkpoint.from_directory(checkpoint_path)
        result = checkpoint_path if isinstance(checkpoint_path, _TrainingResult) else _TrainingResult(
            checkpoint=checkpoint_path, metrics={})
        with result.checkpoint.as_directory() as local, checkpoint.checked_copy(local, self.config) as private:
            self._checked_copy = private
            try:
                super().restore(_TrainingResult(checkpoint=Checkpoint.from_directory(private),
                                                metrics=result.metrics))
            finally:
                self._checked_copy = None

    @override(Algorithm)
    def restore_from_path(self, path, *args, **kwargs) -> None:
        """RLlib's restore of a checkpoint that `checkpoint.check` finds complete, safe and matching, from the
        private copy of the bytes it checked; else a CheckpointError that names the file or what differs."""
        if pathlib.Path(path) == getattr(self, "_checked_copy", None):
            return self._restore_checked(path, *args, **kwargs)
        with checkpoint.checked_copy(pathlib.Path(path), self.config) as private:
            self._restore_checked(private, *args, **kwargs)

    def _restore_checked(self, path, *args, **kwargs) -> None:
        try:
            super().restore_from_path(path, *args, **kwargs)
        except Exception as error:
            raise CheckpointError(f"checkpoint {path} does not match this configuration: "
                                  f"{type(error).__name__}: {error}") from error

    def env_steps(self) -> int:
        return int(self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))


def _is_nonfinite(error: Exception) -> bool:
    """The learner's NonFiniteUpdateError, raised here (local learner) or wrapped by Ray (remote learner)."""
    return isinstance(error, NonFiniteUpdateError) or NonFiniteUpdateError.__name__ in str(error)


def _weighted_mean(stats: list[dict[str, float]]) -> dict[str, float]:
    """Average the learner's per-call means over an iteration, weighted by each call's number of updates."""
    weighted = [s for s in stats if s.get(NUM_UPDATES)]
    total = sum(s[NUM_UPDATES] for s in weighted)
    keys = {k for s in weighted for k in s} - {NUM_UPDATES, REPLAY_SIZE, TARGET_ENTROPY, SKIPPED_UPDATES}
    means = {k: sum(s[k] * s[NUM_UPDATES] for s in weighted if k in s) / total for k in keys}
    if stats:
        means |= {REPLAY_SIZE: stats[-1][REPLAY_SIZE], TARGET_ENTROPY: stats[-1][TARGET_ENTROPY],
                  NUM_UPDATES: total, SKIPPED_UPDATES: sum(s.get(SKIPPED_UPDATES, 0) for s in stats)}
    return means

