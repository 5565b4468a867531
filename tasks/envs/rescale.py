"""Actions in [-1, 1] for every task (as in the official code, docs/official-code.md)."""

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box


class RescaleActionToUnit(gym.ActionWrapper):
    """The agent acts in Box(-1, 1); the wrapped env receives low + (a + 1) / 2 * (high - low)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.action_space
        assert isinstance(space, Box) and np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.action_space = Box(-1.0, 1.0, shape=space.shape, dtype=np.float32)

    def action(self, action):
        unit = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        return self.low + (unit + 1.0) * 0.5 * (self.high - self.low)  # float64, as MuJoCo's ctrl
