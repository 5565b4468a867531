"""The lean env runner hands the learner the environment's own transitions, acts with the actor's distribution,
repeats itself under a seed, and (with overlap_sampling) samples while the learner updates."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from algorithms.sac_svg.env_runner import LeanSingleAgentEnvRunner, transitions_of
from algorithms.sac_svg.replay import FIELDS
from tests.test_sac_svg_algorithm import TASK, small_config

MAX_STEPS = 8  # a short time limit, so that a sample holds time-limit truncations as well as terminations


def build_runner(seed: int = 0) -> LeanSingleAgentEnvRunner:
    config = small_config().environment(TASK, env_config={"max_episode_steps": MAX_STEPS}).debugging(seed=seed)
    return LeanSingleAgentEnvRunner(config=config)


def sample_run(runner: LeanSingleAgentEnvRunner) -> dict[str, np.ndarray]:
    """Random actions first, then the actor's, in fragments of 10 env steps (episodes continue across them)."""
    samples = [s for call in range(12) for s in runner.sample(num_timesteps=10, random_actions=call < 3)]
    return transitions_of(samples)


def test_transitions_replay_exactly_in_a_freshly_seeded_env():
    """The recorded actions, sent to a new env seeded like the runner's, give the recorded observations, rewards
    and terminations; an episode ends exactly where the env terminates or truncates, and a truncation is not
    marked terminated."""
    t = sample_run(build_runner())
    env = gym.make(TASK, max_episode_steps=MAX_STEPS)
    low, high = env.action_space.low, env.action_space.high
    assert (low != -1).any(), "the task's bounds should differ from the actor's [-1, 1]"
    assert np.abs(t["action"]).max() <= 1
    obs, _ = env.reset(seed=0)
    ends = {"terminated": 0, "truncated": 0}
    n = len(t["reward"])
    for i in range(n):
        if t["t"][i] == 0 and i > 0:
            obs, _ = env.reset()
        np.testing.assert_array_equal(t["obs"][i], obs.astype(np.float32))
        obs, reward, terminated, truncated, _ = env.step(low + (t["action"][i] + 1) / 2 * (high - low))
        np.testing.assert_array_equal(t["next_obs"][i], obs.astype(np.float32))
        assert t["reward"][i] == np.float32(reward) and t["terminated"][i] == float(terminated)
        if i + 1 < n:
            episode_ends = t["t"][i + 1] == 0
            assert episode_ends == (terminated or truncated), i
            assert episode_ends or (t["episode"][i + 1], t["t"][i + 1]) == (t["episode"][i], t["t"][i] + 1)
            ends["terminated"] += terminated
            ends["truncated"] += truncated and not terminated
    assert ends["terminated"] > 0 and ends["truncated"] > 0, ends


def test_actions_follow_the_actors_distribution_on_fixed_weights_and_noise():
    """Exploring: u = tanh(mu(x) + sigma(x) eps) of the actor on the normalized observation, with the same eps;
    evaluating: tanh(mu(x)). The random phase is uniform over [-1, 1]."""
    runner = build_runner()
    m = runner.module
    observations = torch.randn(100, m.observation_space.shape[0], generator=torch.Generator().manual_seed(1))
    m.normalizer.update(3 * observations + 1)
    assert not torch.allclose(m.normalizer.scale, torch.ones(()))
    torch.manual_seed(7)
    explored = runner.sample(num_timesteps=30)[0].transitions
    evaluated = runner.sample(num_timesteps=30, explore=False)[0].transitions
    torch.manual_seed(7)
    with torch.no_grad():
        for obs, action in zip(explored["obs"], explored["action"]):
            expected = m.actor.sample(m.normalizer(torch.as_tensor(obs)[None]))[0][0]
            np.testing.assert_array_equal(action, expected.numpy())
        for obs, action in zip(evaluated["obs"], evaluated["action"]):
            np.testing.assert_array_equal(action, m.actor.mean_action(m.normalizer(torch.as_tensor(obs)[None]))[0])
    uniform = runner.sample(num_timesteps=400, random_actions=True)[0].transitions["action"]
    assert uniform.min() >= -1 and uniform.max() <= 1 and uniform.min() < -0.95 and uniform.max() > 0.95
    assert abs(uniform.mean()) < 0.1


def test_the_learners_acting_state_makes_the_runner_act_like_the_learners_actor():
    """The flat acting state (normalizer loc and scale, actor parameters) carries everything acting reads: after
    loading the learner's, the runner's inference-only module acts exactly like the learner's full one; a state
    of another actor's size is refused."""
    runner = build_runner()
    learner = small_config().environment(TASK).build_learner(env=gym.make(TASK))
    full = learner.rl_module
    full.normalizer.update(5 * torch.randn(64, full.observation_space.shape[0]) + 2)
    with torch.no_grad():
        for p in full.actor.parameters():
            p.add_(torch.randn_like(p))
    obs = {Columns.OBS: torch.randn(16, full.observation_space.shape[0])}
    act = runner.module._forward_inference
    assert not torch.equal(act(obs)[Columns.ACTIONS], full._forward_inference(obs)[Columns.ACTIONS])
    runner.module.load_acting_state(full.acting_state())
    torch.testing.assert_close(act(obs)[Columns.ACTIONS], full._forward_inference(obs)[Columns.ACTIONS],
                               rtol=0, atol=0)
    with pytest.raises(ValueError, match="acting state of shape"):
        runner.module.load_acting_state(full.acting_state()[:-1])


def test_a_seeded_runner_repeats_itself_and_another_seed_does_not():
    first, again, other = (sample_run(build_runner(seed)) for seed in (0, 0, 1))
    for key in set(FIELDS) - {"episode"}:  # episode ids are random 60-bit labels; their grouping repeats
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    assert (np.diff(first["episode"]) != 0).tolist() == (np.diff(again["episode"]) != 0).tolist()
    assert not np.array_equal(first["obs"], other["obs"])


def test_evaluation_returns_whole_episodes_and_their_mean_return():
    runner = build_runner()
    fragment, = runner.sample(num_episodes=3, explore=False)
    t = fragment.transitions
    starts = np.flatnonzero(t["t"] == 0)
    assert len(starts) == 3 and fragment.env_steps() == len(t["reward"])
    returns = [t["reward"][a:b].sum() for a, b in zip(starts, [*starts[1:], len(t["reward"])])]
    assert float(runner.get_metrics()["episode_return_mean"]) == pytest.approx(np.mean(returns), rel=1e-6)


def test_overlap_needs_env_runner_processes():
    with pytest.raises(ValueError, match="overlap_sampling=True needs env runner processes"):
        small_config(overlap_sampling=True).validate()


def test_overlapped_learner_leaves_the_env_runners_their_cpus():
    """Alternating, the learner may use the env runners' CPUs while they wait; overlapping, it keeps the main
    process's."""
    config = small_config(learner_threads=None).resources(num_cpus_for_main_process=1).env_runners(
        num_env_runners=2, num_cpus_per_env_runner=1)
    assert config.learner_cpu_threads == 3
    assert config.training(overlap_sampling=True).learner_cpu_threads == 1


@pytest.mark.slow
def test_overlapped_sampling_counts_every_env_step_once(local_ray):
    """With the next fragment requested before each update, every sampled env step reaches the replay once
    and the iterations count the same env steps as strict alternation's."""
    algo = (small_config(report_interval_steps=100, num_random_steps=50, overlap_sampling=True)
            .env_runners(num_env_runners=1, rollout_fragment_length=10).build_algo())
    results = [algo.train() for _ in range(3)]
    algo.stop()
    assert [r["env_steps"] for r in results] == [100, 200, 300]
    assert [r["replay_size"] for r in results] == [100, 200, 300]
    assert np.isfinite(results[-1]["loss_critic"]) and results[-1]["num_updates"] == 100
