"""A researcher's own environments, for the tests of `TASK=module:...` (tests/test_own_task.py): a small arm that
works (Dict observations, bounds other than [-1, 1], no termination), and one environment per bad input."""

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Dict, Discrete


class Arm(gym.Env):
    """Two joints pulled toward the origin; reward -|angles|^2; never terminates."""

    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        self.observation_space = Dict({"angles": Box(-np.pi, np.pi, (2,)), "speeds": Box(-10, 10, (3,))})
        self.action_space = Box(np.array([-2.0, 0.0]), np.array([2.0, 4.0]), dtype=np.float64)
        self.last_action = None

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.angles = self.np_random.uniform(-1, 1, 2)
        return self._obs(), {}

    def step(self, action):
        self.last_action = np.asarray(action)
        self.angles = np.clip(self.angles + 0.05 * (action - [0.0, 2.0]), -np.pi, np.pi)
        return self._obs(), -float(np.sum(self.angles**2)), False, False, {}

    def _obs(self):
        return {"angles": self.angles.astype(np.float32), "speeds": np.zeros(3, np.float32)}


def make_arm(**kwargs) -> Arm:
    return Arm(**kwargs)


class DiscreteArm(Arm):
    def __init__(self, render_mode=None):
        super().__init__()
        self.action_space = Discrete(3)


class UnboundedArm(Arm):
    def __init__(self, render_mode=None):
        super().__init__()
        self.action_space = Box(-np.inf, np.inf, (2,))


class CameraArm(Arm):
    def __init__(self, render_mode=None):
        super().__init__()
        self.observation_space = Box(0, 255, (8, 8, 3), dtype=np.uint8)


class ResetFails(Arm):
    def reset(self, seed=None, options=None):
        raise RuntimeError("the simulator lost its license server")


class StepFails(Arm):
    def step(self, action):
        raise ValueError("joint 3 does not exist")


class NanArm(Arm):
    def _obs(self):
        return {"angles": np.full(2, np.nan, np.float32), "speeds": np.zeros(3, np.float32)}


def not_an_env():
    return "an arm"


gym.register("OwnArm-v0", entry_point=Arm, max_episode_steps=50)
gym.register("make_arm", entry_point=Arm, max_episode_steps=7)  # an id and a function of the same name
