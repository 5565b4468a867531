"""POPLIN's locomotion tasks (Table 2), rebuilt as gymnasium MuJoCo environments on today's MuJoCo.

They come from the model-based RL benchmark of Wang et al. (2019, "MBBL"); docs/official-code.md ("The POPLIN
tasks") specifies each one. Common to all: the episode ends only at the 1,000-step time limit (the TimeLimit
wrapper added by `tasks.make_env`; `terminated` is always False here), and the reward is a function of the
observation *before* the step and the action, r(x_t, u_t) -- except PETS Cheetah, which rewards the
forward velocity in the observation *after* the step.

Reset noise follows the gym v1 task each environment is built on (and, for the fixed swimmer and the
PETS cheetah, their MBBL source): "uniform" is U(-s, s), "normal" is s * N(0, 1).
"""

from pathlib import Path

import mujoco
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box

FIXED_SWIMMER_XML = str(Path(__file__).resolve().parent / "fixed_swimmer.xml")
# gymnasium's half_cheetah.xml without MuJoCo 4's deprecated `settotalmass` (same masses; see the file).
HALF_CHEETAH_XML = str(Path(__file__).resolve().parent / "half_cheetah.xml")


def ctrl_cost(action: np.ndarray, weight: float) -> float:
    """weight * |a|^2."""
    return weight * float(np.sum(np.square(action)))


class PoplinEnv(MujocoEnv, utils.EzPickle):
    """Shared machinery; a task sets its model, frame skip, reset noise, `_get_obs` and `reward`."""

    xml_file: str                                   # gymnasium asset name or absolute path
    frame_skip: int
    qpos_noise: tuple[str, float]                   # (distribution, scale) added to init_qpos
    qvel_noise: tuple[str, float]                   # (distribution, scale) added to init_qvel
    metadata = {"render_modes": ["human", "rgb_array", "depth_array"]}

    def __init__(self, **kwargs):
        utils.EzPickle.__init__(self, **kwargs)
        self._x_velocity = 0.0                      # finite-difference x velocity over the last step
        MujocoEnv.__init__(self, self.xml_file, self.frame_skip, observation_space=None, **kwargs)
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}
        obs_dim = self._get_obs().size
        self.observation_space = Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float64)

    # --- per task ---------------------------------------------------------------------------------
    def _get_obs(self) -> np.ndarray:
        raise NotImplementedError

    def reward(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
        raise NotImplementedError

    def _tracked_x(self) -> float:
        """The x coordinate whose finite difference gives `_x_velocity` (the root's by default)."""
        return float(self.data.qpos[0])

    # --- shared -------------------------------------------------------------------------------------
    def step(self, action):
        obs = self._get_obs()                       # start state x_t
        x_before = self._tracked_x()
        self.do_simulation(action, self.frame_skip)
        self._x_velocity = (self._tracked_x() - x_before) / self.dt
        next_obs = self._get_obs()
        reward = self.reward(obs, np.asarray(action), next_obs)
        if self.render_mode == "human":
            self.render()
        return next_obs, reward, False, False, {}   # no early termination; TimeLimit truncates

    def reset_model(self):
        qpos = self.init_qpos + self._noise(*self.qpos_noise, size=self.model.nq)
        qvel = self.init_qvel + self._noise(*self.qvel_noise, size=self.model.nv)
        self.set_state(qpos, qvel)
        self._x_velocity = 0.0
        return self._get_obs()

    def _noise(self, distribution: str, scale: float, size: int) -> np.ndarray:
        if distribution == "uniform":
            return self.np_random.uniform(-scale, scale, size=size)
        if distribution == "normal":
            return scale * self.np_random.standard_normal(size)
        raise ValueError(f"unknown reset noise {distribution!r}")

    def _qpos_qvel(self, skip: int) -> np.ndarray:
        """qpos[skip:] ++ qvel: the MBBL walkers drop the root's x (and y) position."""
        return np.concatenate([self.data.qpos[skip:], self.data.qvel]).astype(np.float64)


class PoplinCheetah(PoplinEnv):
    """gym_cheetah: obs = qpos[1:] ++ qvel (17-d); r = obs[8] - 0.1 |a|^2."""

    xml_file, frame_skip = HALF_CHEETAH_XML, 5
    qpos_noise, qvel_noise = ("uniform", 0.1), ("normal", 0.1)

    def _get_obs(self):
        return self._qpos_qvel(skip=1)

    def reward(self, obs, action, next_obs):
        return obs[8] - ctrl_cost(action, 0.1)


class PoplinWalker2d(PoplinEnv):
    """gym_walker2d: obs = qpos[1:] ++ qvel (17-d); r = obs[8] - 3 (obs[0] - 1.3)^2 - 0.1 |a|^2 + 1."""

    xml_file, frame_skip = "walker2d.xml", 4
    qpos_noise, qvel_noise = ("uniform", 0.005), ("uniform", 0.005)

    def _get_obs(self):
        return self._qpos_qvel(skip=1)

    def reward(self, obs, action, next_obs):
        return obs[8] - 3.0 * (obs[0] - 1.3) ** 2 - ctrl_cost(action, 0.1) + 1.0


class PoplinHopper(PoplinEnv):
    """gym_hopper: obs = qpos[1:] ++ qvel (11-d); r = obs[5] - 3 (obs[0] - 1.3)^2 - 0.1 |a|^2 + 1."""

    xml_file, frame_skip = "hopper.xml", 4
    qpos_noise, qvel_noise = ("uniform", 0.005), ("uniform", 0.005)

    def _get_obs(self):
        return self._qpos_qvel(skip=1)

    def reward(self, obs, action, next_obs):
        return obs[5] - 3.0 * (obs[0] - 1.3) ** 2 - ctrl_cost(action, 0.1) + 1.0


class PoplinAnt(PoplinEnv):
    """gym_ant: obs = qpos[2:] ++ qvel (27-d, no contact forces);
    r = obs[13] - 3 (obs[0] - 0.57)^2 - 0.1 |a|^2 + 1."""

    xml_file, frame_skip = "ant.xml", 5
    qpos_noise, qvel_noise = ("uniform", 0.1), ("normal", 0.1)

    def _get_obs(self):
        return self._qpos_qvel(skip=2)

    def reward(self, obs, action, next_obs):
        return obs[13] - 3.0 * (obs[0] - 0.57) ** 2 - ctrl_cost(action, 0.1) + 1.0


class PoplinSwimmer(PoplinEnv):
    """gym_fswimmer, the "fixed" swimmer (fixed_swimmer.xml):
    obs = qpos[2:] ++ qvel ++ [x velocity of the tip over the last step] (9-d, 0 after reset);
    r = obs[-1] - 0.0001 |a|^2, the tip velocity in the observation before the step."""

    xml_file, frame_skip = FIXED_SWIMMER_XML, 4
    qpos_noise, qvel_noise = ("uniform", 0.1), ("uniform", 0.1)

    def _tracked_x(self):
        # After mj_step, site_xpos still holds the kinematics of the last substep's start:
        # recompute it from the current qpos so the velocity is exactly (x_tip(t+1) - x_tip(t)) / dt.
        mujoco.mj_kinematics(self.model, self.data)
        return float(self.data.site("tip").xpos[0])

    def _get_obs(self):
        return np.append(self._qpos_qvel(skip=2), self._x_velocity)

    def reward(self, obs, action, next_obs):
        return obs[-1] - ctrl_cost(action, 1e-4)


class PoplinPetsCheetah(PoplinEnv):
    """gym_petsCheetah, PETS' half-cheetah:
    obs = [(qpos[0] - previous qpos[0]) / dt] ++ qpos[1:] ++ qvel (18-d, 0 velocity after reset);
    r = next_obs[0] - 0.1 |a|^2 (the velocity of the state *after* the step)."""

    xml_file, frame_skip = HALF_CHEETAH_XML, 5
    qpos_noise, qvel_noise = ("normal", 0.001), ("normal", 0.001)

    def _get_obs(self):
        return np.concatenate([[self._x_velocity], self._qpos_qvel(skip=1)])

    def reward(self, obs, action, next_obs):
        return next_obs[0] - ctrl_cost(action, 0.1)
