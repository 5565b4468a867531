"""Transitions of a task under a uniformly random policy: data for the benchmarks and the tests."""
import gymnasium as gym
import numpy as np

from algorithms.sac_svg.replay import FIELDS


def random_transitions(n: int, env_id: str) -> dict[str, np.ndarray]:
    """n uniformly random transitions of env_id (seeded: the same ones every call), keyed by the replay's FIELDS,
    episodes numbered so sequences can be sampled."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    rows, episode, t = [], 0, 0
    for _ in range(n):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append(dict(obs=obs, action=action, reward=reward, next_obs=next_obs, terminated=float(terminated),
                         episode=episode, t=t))
        obs, t = next_obs, t + 1
        if terminated or truncated:
            (obs, _), episode, t = env.reset(), episode + 1, 0
    return {key: np.asarray([row[key] for row in rows]) for key in FIELDS}
