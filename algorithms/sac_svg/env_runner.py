"""The env runner of SAC-SVG(H): Algorithm 1's "take action u_t ~ pi(x_t), observe r_t, x_{t+1}" loop.

LeanSingleAgentEnvRunner is RLlib's SingleAgentEnvRunner (the same env creation, seeding, RL module, weight
sync, fault tolerance and metrics) with a leaner `sample`: it steps the task's gymnasium envs with the actor's
forward pass directly and records each step as one row of the replay's columns (replay.FIELDS), with no
episode objects and no connectors. What it hands the learner is a `Fragment`: the transitions
(x_t, u_t, r_t, x_{t+1}, terminated, episode, t), where only a real termination is marked (a time-limit
truncation keeps terminated = 0, section 4.2, eq. 13) and u_t is in the actor's units, [-1, 1] per dimension;
the env receives u_t mapped to its action bounds (RLlib's `normalize_actions`). Random actions (the first
`num_random_steps`) are uniform in [-1, 1], so uniform within the env's bounds.

`Sampling` requests fragments from the env runners for `training_step`, each request carrying the weights to act
with: in strict alternation with the updates (Algorithm 1), or with the next fragment requested before the
learner updates on this one (`overlap_sampling`, docs/fidelity.md).
"""
import logging
import time
import uuid

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core.columns import Columns
from ray.rllib.env.env_runner_group import EnvRunnerGroup
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import SAMPLE_TIMER

from algorithms.sac_svg.replay import FIELDS, episodes_to_transitions

logger = logging.getLogger(__name__)
SAMPLE_TAG = "sample_transitions"


class Fragment:
    """The transitions of one `sample` call, as numpy columns keyed by replay.FIELDS (RLlib counts the steps of
    what `sample` returns through env_steps() and agent_steps())."""

    def __init__(self, transitions: dict[str, np.ndarray]):
        self.transitions = transitions

    def env_steps(self) -> int:
        return len(self.transitions["reward"])

    agent_steps = env_steps


class OpenEpisodes:
    """The episode each sub-env is in: its current observation, id, time step, return and start time."""

    def __init__(self, observations: np.ndarray):
        n = len(observations)
        self.obs = observations.astype(np.float32)
        self.ids = np.array([new_episode_id() for _ in range(n)], dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.returns = np.zeros(n)
        self.started = np.full(n, time.time())

    def restart(self, i: int, observation: np.ndarray) -> None:
        self.obs[i] = observation
        self.ids[i], self.t[i], self.returns[i], self.started[i] = new_episode_id(), 0, 0.0, time.time()


def new_episode_id() -> int:
    """60 random bits: unique across env runners and their restarts (the replay links an episode's chunks by it)."""
    return uuid.uuid4().int >> 68


class LeanSingleAgentEnvRunner(SingleAgentEnvRunner):
    """SingleAgentEnvRunner whose `sample` returns [Fragment] (see the module docstring). Evaluation runs through
    it too: `explore=False` acts with the deterministic tanh(mu(x)). RLlib's per-episode callbacks
    (on_episode_start/step/end) are not called; on_environment_created and on_sample_end are."""

    @override(SingleAgentEnvRunner)
    def __init__(self, *, config, **kwargs):
        super().__init__(config=config, **kwargs)
        self.rng = np.random.default_rng(self._seed)  # the random phase's uniform actions

    @override(SingleAgentEnvRunner)
    def make_env(self) -> None:
        super().make_env()
        vector_env = self.env.unwrapped
        if not isinstance(vector_env, gym.vector.SyncVectorEnv):
            raise ValueError(f"{type(self).__name__} steps the sub-envs of a synchronous vector env; "
                             f"gym_env_vectorize_mode={self.config.gym_env_vectorize_mode!r} is not supported")
        self.sub_envs = vector_env.envs
        space = self.env.single_action_space
        self.action_low, self.action_high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.open_episodes: OpenEpisodes | None = None

    @override(SingleAgentEnvRunner)
    def make_module(self) -> None:
        super().make_module()
        self.module.eval()  # once: RLlib's forward_exploration/_inference would switch modes on every call

    @override(SingleAgentEnvRunner)
    def sample(self, *, num_timesteps: int | None = None, num_episodes: int | None = None, explore: bool | None = None,
               random_actions: bool = False, force_reset: bool = False) -> list[Fragment]:
        """`num_timesteps` env steps (default: the rollout fragment) continuing the open episodes, or
        `num_episodes` whole episodes from a reset."""
        if self.env is None:
            raise ValueError(f"{self} has no env to sample from")
        explore = self.config.explore if explore is None else explore
        if num_timesteps is None and num_episodes is None:
            num_timesteps = self.config.get_rollout_fragment_length(self.worker_index) * self.num_envs
        with self.metrics.log_time(SAMPLE_TIMER):
            if force_reset or num_episodes is not None or self.open_episodes is None:
                self.reset_episodes()
            fragment = self.run(num_timesteps, num_episodes, explore, random_actions)
            if num_episodes is not None:
                self._needs_initial_reset = True  # each evaluation starts from the same seeded states, as RLlib's
            make_callback("on_sample_end", callbacks_objects=self._callbacks,
                          callbacks_functions=self.config.callbacks_on_sample_end,
                          kwargs=dict(env_runner=self, metrics_logger=self.metrics, samples=[fragment]))
        return [fragment]

    def reset_episodes(self) -> None:
        """Reset every sub-env (seeded with the runner's seed at the first reset), starting new episodes."""
        seed = self._seed if self._needs_initial_reset else None
        self.open_episodes = OpenEpisodes(np.stack([
            env.reset(seed=None if seed is None else seed + i)[0] for i, env in enumerate(self.sub_envs)]))
        self._needs_initial_reset = False

    def run(self, num_timesteps: int | None, num_episodes: int | None, explore: bool,
            random_actions: bool) -> Fragment:
        """Step every sub-env until `num_timesteps` steps or `num_episodes` finished episodes; one row per step."""
        rows: dict[str, list] = {key: [] for key in FIELDS}
        sub_env_of_row: list[int] = []
        steps = finished = 0
        while (steps < num_timesteps) if num_timesteps is not None else (finished < num_episodes):
            episodes = self.open_episodes
            actions = self.actions(episodes.obs, explore, random_actions)
            for i, (env, env_action) in enumerate(zip(self.sub_envs, self.env_actions(actions))):
                try:
                    next_obs, reward, terminated, truncated, _ = env.step(env_action)
                except Exception:
                    if not self.config.restart_failed_sub_environments:
                        raise
                    logger.exception("env step failed: recreating the envs and starting new episodes")
                    self.make_env()
                    self.reset_episodes()
                    break
                for key, value in (("obs", episodes.obs[i].copy()), ("action", actions[i]), ("reward", reward),
                                   ("next_obs", next_obs), ("terminated", terminated), ("episode", episodes.ids[i]),
                                   ("t", episodes.t[i])):
                    rows[key].append(value)
                sub_env_of_row.append(i)
                steps += 1
                episodes.obs[i], episodes.t[i] = next_obs, episodes.t[i] + 1
                episodes.returns[i] += reward
                if terminated or truncated:
                    finished += 1
                    self._log_episode_metrics(int(episodes.t[i]), float(episodes.returns[i]),
                                              time.time() - episodes.started[i])
                    episodes.restart(i, env.reset()[0])
                    if num_episodes is not None and finished >= num_episodes:
                        break
        self._increase_sampled_metrics(steps, finished)
        return Fragment(self.columns(rows, sub_env_of_row))

    def columns(self, rows: dict[str, list], sub_env_of_row: list[int]) -> dict[str, np.ndarray]:
        """The rows as the replay's columns, each sub-env's rows consecutive (so its episode's steps follow)."""
        order = np.argsort(np.asarray(sub_env_of_row, dtype=np.int64), kind="stable")
        dtypes = {"episode": np.int64, "t": np.int64}
        act_dim = len(self.action_low)
        columns = {key: np.asarray(values, dtype=dtypes.get(key, np.float32))[order] for key, values in rows.items()}
        columns["obs"] = columns["obs"].reshape(len(order), -1)
        columns["next_obs"] = columns["next_obs"].reshape(len(order), -1)
        columns["action"] = columns["action"].reshape(len(order), act_dim)
        return columns

    def actions(self, obs: np.ndarray, explore: bool, random_actions: bool) -> np.ndarray:
        """u ~ pi(x) (eq. 4) when exploring, tanh(mu(x)) when not, uniform in [-1, 1] in the random phase."""
        if random_actions:
            return self.rng.uniform(-1.0, 1.0, size=(self.num_envs, len(self.action_low))).astype(np.float32)
        batch = {Columns.OBS: torch.from_numpy(obs).to(self._device)}
        forward = self.module._forward_exploration if explore else self.module._forward_inference
        return forward(batch)[Columns.ACTIONS].cpu().numpy()

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions in the env's units: [-1, 1] mapped onto its bounds (RLlib's normalize_actions), else clipped to
        them with clip_actions, else as they are."""
        if self.config.normalize_actions:
            actions = self.action_low + (actions + 1.0) * 0.5 * (self.action_high - self.action_low)
        elif not self.config.clip_actions:
            return actions
        return np.clip(actions, self.action_low, self.action_high)


def transitions_of(samples: list) -> dict[str, np.ndarray]:
    """One dict of transitions from what env runners returned: Fragments, or RLlib episodes (another
    env_runner_cls), converted."""
    fragments = [s.transitions for s in samples if isinstance(s, Fragment) and s.env_steps()]
    episodes = [s for s in samples if not isinstance(s, Fragment)]
    if episodes:
        fragments.append(episodes_to_transitions(episodes))
    fragments = [f for f in fragments if f]
    return {key: np.concatenate([f[key] for f in fragments]) for key in FIELDS} if fragments else {}


class Sampling:
    """The fragments of `training_step`, from the remote env runners (or the local one when there are none).

    `request` asks every healthy env runner for its next fragment without waiting; `collect` waits for what
    was requested. With overlap_sampling, training_step requests the next fragment right after collecting one,
    so the env runners step their envs while the learner updates. Env runners that fail are left out of the
    collection and restored by RLlib before the next training_step.
    """

    def __init__(self, group: EnvRunnerGroup):
        self.group = group
        self.pending = False
        self.local_result: tuple[list, list[dict]] | None = None

    def request(self, random_actions: bool, acting_state: np.ndarray) -> None:
        """The next fragment of every env runner, acting with `acting_state` (the learner's newest actor and
        normalizer, SACSVGModule.acting_state): the weight sync rides on the sample request."""
        def sample(runner):
            runner.module.load_acting_state(acting_state)
            return runner.sample(random_actions=random_actions), runner.get_metrics()

        if self.group.num_remote_env_runners() == 0:
            self.local_result = sample(self.group.local_env_runner)
        else:
            self.group.foreach_env_runner_async(sample, tag=SAMPLE_TAG)
        self.pending = True

    def collect(self) -> tuple[list, list[dict]]:
        """The samples (flattened) and the metrics of every env runner that answered."""
        self.pending = False
        if self.local_result is not None:
            results, self.local_result = [self.local_result], None
        else:
            results = [r for _, r in self.group.fetch_ready_async_reqs(tags=SAMPLE_TAG, timeout_seconds=None)]
        return [s for samples, _ in results for s in samples], [metrics for _, metrics in results]
