"""The task registry (tasks/registry.py) and the rebuilt POPLIN environments (tasks/envs)."""

import math
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import sweeps
from tasks import (
    TASKS,
    EntropySchedule,
    UnknownTaskError,
    envs,
    get_task,
    make_env,
    rllib_env_id,
)

MBPO = ["Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid"]
POPLIN = ["poplin-ant", "poplin-hopper", "poplin-swimmer", "poplin-cheetah", "poplin-walker2d",
          "poplin-pets-cheetah"]
# (obs_dim, act_dim): gym/MBPO sizes, Ant and Humanoid truncated; POPLIN sizes from docs/official-code.md.
DIMS = {"Hopper": (11, 3), "Walker2d": (17, 6), "HalfCheetah": (17, 6), "Ant": (27, 8), "Humanoid": (45, 17),
        "poplin-ant": (27, 8), "poplin-hopper": (11, 3), "poplin-swimmer": (9, 2), "poplin-cheetah": (17, 6),
        "poplin-walker2d": (17, 6), "poplin-pets-cheetah": (18, 6)}


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path, monkeypatch):
    """MuJoCo writes compiler warnings to ./MUJOCO_LOG.TXT; keep them out of the repository."""
    monkeypatch.chdir(tmp_path)


# --- the registry as data -----------------------------------------------------------------------------

def test_registry_has_the_papers_eleven_tasks():
    assert list(TASKS) == MBPO + POPLIN
    assert {t.suite for t in TASKS.values()} == {"mbpo", "poplin"}
    assert [n for n, t in TASKS.items() if t.suite == "mbpo"] == MBPO
    for task in TASKS.values():
        assert (task.obs_dim, task.act_dim) == DIMS[task.name]
        assert task.max_episode_steps == 1000
        assert task.differs_from_paper.strip()
        assert task.eval_interval == {"mbpo": 25_000, "poplin": 10_000}[task.suite]  # the official eval_freq


def test_training_lengths():
    # POPLIN: Table 2's "Training Timesteps" row; MBPO: the official runs (docs/official-code.md).
    expected = {"Ant": 2_000_000, "HalfCheetah": 2_000_000, "Hopper": 1_000_000, "Humanoid": 5_000_000,
                "Walker2d": 2_000_000, "poplin-ant": 200_000, "poplin-hopper": 200_000,
                "poplin-swimmer": 50_000, "poplin-cheetah": 200_000, "poplin-walker2d": 200_000,
                "poplin-pets-cheetah": 50_000}
    assert {n: t.train_steps for n, t in TASKS.items()} == expected


def test_table4_schedules_as_in_the_paper():
    # Table 4, left (POPLIN) and right (MBPO), rows "Environment H_init H_final beta"; '-' -> None.
    poplin = {"Ant": (0, 0, None), "Hopper": (0, 0, None), "Swimmer": (-1, -8, 0.5), "Cheetah": (0, -3, 0.1),
              "Walker2d": (4, -8, 0.5), "PETS Cheetah": (0, -3, 0.1)}
    mbpo = {"Hopper": (0, -1, 0.5), "Walker2d": (-2, -3, 64), "Ant": (2, -4, 1), "Cheetah": (-2, -2, None),
            "Humanoid": (-1, -1, None)}
    for suite, table in (("poplin", poplin), ("mbpo", mbpo)):
        got = {t.paper_name: t.schedule for t in TASKS.values() if t.suite == suite}
        assert got == {name: EntropySchedule(*row) for name, row in table.items()}
    assert get_task("HalfCheetah").paper_name == "Cheetah"


# --- lookup -------------------------------------------------------------------------------------------

def test_lookup_is_case_insensitive():
    assert get_task("walker2d") is TASKS["Walker2d"]
    assert get_task("POPLIN-Cheetah") is TASKS["poplin-cheetah"]


@pytest.mark.parametrize("typo, closest", [("Walker", "Walker2d"), ("poplin-chetah", "poplin-cheetah"),
                                           ("humanod", "Humanoid")])
def test_unknown_task_names_the_closest_match_and_all_names(typo, closest):
    with pytest.raises(UnknownTaskError) as info:
        get_task(typo)
    message = str(info.value)
    assert f"Closest: {closest}" in message
    assert all(name in message for name in TASKS)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownTaskError):
        make_env(typo)


# --- every task builds and steps ----------------------------------------------------------------------

@pytest.mark.parametrize("name", MBPO + POPLIN)
def test_every_task_builds_resets_and_steps(name):
    obs_dim, act_dim = DIMS[name]
    env = make_env(name)
    assert env.observation_space.shape == (obs_dim,)
    assert isinstance(env.action_space, gym.spaces.Box) and env.action_space.shape == (act_dim,)
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    assert env.spec.max_episode_steps == 1000
    obs, _ = env.reset(seed=0)
    assert obs.shape == (obs_dim,) and np.all(np.isfinite(obs))
    for _ in range(5):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.shape == (obs_dim,) and np.all(np.isfinite(obs)) and np.isfinite(reward)
    env.close()


@pytest.mark.parametrize("name, frame_skip", [("Hopper", 4), ("Walker2d", 4), ("HalfCheetah", 5), ("Ant", 5),
                                              ("Humanoid", 5), ("poplin-hopper", 4), ("poplin-walker2d", 4),
                                              ("poplin-cheetah", 5), ("poplin-ant", 5), ("poplin-swimmer", 4),
                                              ("poplin-pets-cheetah", 5)])
def test_frame_skips(name, frame_skip):
    assert make_env(name).unwrapped.frame_skip == frame_skip


@pytest.mark.parametrize("name", ["Ant", "Humanoid"])
def test_truncated_mbpo_observations_are_qpos2_and_qvel(name):
    # MBPO's AntTruncatedObs (no contact forces, 27-d) and HumanoidTruncatedObs (qpos[2:] ++ qvel, 45-d).
    env = make_env(name)
    obs, _ = env.reset(seed=1)
    for _ in range(3):
        data = env.unwrapped.data
        np.testing.assert_array_equal(obs, np.concatenate([data.qpos[2:], data.qvel]))
        obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (DIMS[name][0],)


def test_mbpo_tasks_keep_early_termination():
    env = make_env("Hopper")
    env.reset(seed=0)
    env.action_space.seed(0)
    for step in range(1, 1001):  # noqa: B007 - step is read after the loop
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    assert terminated and not truncated and step < 1000


# --- actions in [-1, 1] -------------------------------------------------------------------------------

class _AsymmetricBoxEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Box(np.array([-2.0, 0.0, 3.0], np.float32),
                                  np.array([4.0, 0.5, 5.0], np.float32))


def test_rescale_wrapper_maps_unit_box_to_the_true_bounds():
    env = envs.RescaleActionToUnit(_AsymmetricBoxEnv())
    inner = env.env.action_space
    np.testing.assert_allclose(env.action(-np.ones(3)), inner.low)
    np.testing.assert_allclose(env.action(np.ones(3)), inner.high)
    np.testing.assert_allclose(env.action(np.zeros(3)), (inner.low + inner.high) / 2)
    np.testing.assert_allclose(env.action(np.array([-1.0, 0.0, 1.0])), [-2.0, 0.25, 5.0])


def test_humanoid_actions_reach_its_true_control_range():
    env = make_env("Humanoid")  # Humanoid's motors take ctrl in [-0.4, 0.4]
    low, high = env.unwrapped.model.actuator_ctrlrange.T
    assert np.allclose(low, -0.4) and np.allclose(high, 0.4)
    env.reset(seed=0)
    for unit, bound in ((-1.0, low), (1.0, high)):
        env.step(np.full(17, unit, np.float32))
        np.testing.assert_allclose(env.unwrapped.data.ctrl, bound, rtol=1e-6)


# --- POPLIN rewards, recomputed from the MuJoCo state (docs/official-code.md, "The POPLIN tasks") ------------

def _sq(a):
    return float(np.sum(np.square(a)))


def _swimmer_tip_x(qpos):
    # The tip is the first pod's front, the root body's origin; the root hinge sits 1.5 behind it.
    return qpos[0] - 1.5 + 1.5 * math.cos(qpos[2])


# r(start state (qpos, qvel), action, next qpos, previous qpos): written from docs/official-code.md, not the env code.
REWARDS = {
    "poplin-cheetah": lambda q, v, a, q1, q0: v[0] - 0.1 * _sq(a),
    "poplin-walker2d": lambda q, v, a, q1, q0: v[0] - 3 * (q[1] - 1.3) ** 2 - 0.1 * _sq(a) + 1,
    "poplin-hopper": lambda q, v, a, q1, q0: v[0] - 3 * (q[1] - 1.3) ** 2 - 0.1 * _sq(a) + 1,
    "poplin-ant": lambda q, v, a, q1, q0: v[0] - 3 * (q[2] - 0.57) ** 2 - 0.1 * _sq(a) + 1,
    # tip x velocity over the step *before* this one (dt = 0.01 * 4), 0 right after reset
    "poplin-swimmer": lambda q, v, a, q1, q0: (_swimmer_tip_x(q) - _swimmer_tip_x(q0)) / 0.04 - 1e-4 * _sq(a),
    # root x velocity over *this* step (dt = 0.01 * 5): the next observation's first entry
    "poplin-pets-cheetah": lambda q, v, a, q1, q0: (q1[0] - q[0]) / 0.05 - 0.1 * _sq(a),
}


@pytest.mark.parametrize("name", POPLIN)
def test_poplin_reward_matches_formula_over_a_full_episode(name):
    """Random actions for a whole episode: each reward equals docs/official-code.md's formula recomputed from
    data.qpos/qvel; the episode lasts exactly 1,000 steps, ends by truncation and never terminates."""
    env = make_env(name)
    data = env.unwrapped.data
    assert np.all(env.unwrapped.model.actuator_ctrlrange == [-1.0, 1.0])  # so agent action == ctrl
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    previous_qpos = data.qpos.copy()
    heights = []
    for step in range(1, 1001):
        qpos, qvel = data.qpos.copy(), data.qvel.copy()
        action = rng.uniform(-1, 1, env.action_space.shape)
        _, reward, terminated, truncated, _ = env.step(action)
        expected = REWARDS[name](qpos, qvel, action, data.qpos.copy(), previous_qpos)
        assert reward == pytest.approx(expected, rel=1e-9, abs=1e-9), f"step {step}"
        assert not terminated
        assert truncated == (step == 1000)
        previous_qpos = qpos
        heights.append(qpos[1])
    if name == "poplin-hopper":  # it fell (Hopper-v5 would have terminated) and the episode ran on
        assert min(heights) < 0.7


@pytest.mark.parametrize("name, layout", [
    ("poplin-cheetah", lambda q, v: np.concatenate([q[1:], v])),
    ("poplin-walker2d", lambda q, v: np.concatenate([q[1:], v])),
    ("poplin-hopper", lambda q, v: np.concatenate([q[1:], v])),
    ("poplin-ant", lambda q, v: np.concatenate([q[2:], v])),
    ("poplin-swimmer", lambda q, v: np.concatenate([q[2:], v])),        # ++ tip velocity
    ("poplin-pets-cheetah", lambda q, v: np.concatenate([q[1:], v])),   # velocity ++
])
def test_poplin_observation_layout(name, layout):
    env = make_env(name)
    data = env.unwrapped.data
    obs, _ = env.reset(seed=3)
    for step in range(20):
        q, v = data.qpos.copy(), data.qvel.copy()
        if name == "poplin-swimmer":
            np.testing.assert_array_equal(obs[:-1], layout(q, v))
        elif name == "poplin-pets-cheetah":
            np.testing.assert_array_equal(obs[1:], layout(q, v))
        else:
            np.testing.assert_array_equal(obs, layout(q, v))
        if step == 0 and name in ("poplin-swimmer", "poplin-pets-cheetah"):
            assert obs[-1 if name == "poplin-swimmer" else 0] == 0.0  # no velocity estimate after reset
        obs, *_ = env.step(env.action_space.sample())
        if name == "poplin-swimmer":
            assert obs[-1] == pytest.approx((_swimmer_tip_x(data.qpos) - _swimmer_tip_x(q)) / 0.04, abs=1e-9)
        if name == "poplin-pets-cheetah":
            assert obs[0] == pytest.approx((data.qpos[0] - q[0]) / 0.05, abs=1e-9)


def test_fixed_swimmer_model_matches_notes():
    xml = Path(envs.poplin.__file__).parent / "fixed_swimmer.xml"
    assert xml.is_file()  # shipped inside the package, found relative to the module
    model = make_env("poplin-swimmer").unwrapped.model
    assert model.opt.timestep == 0.01 and model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert model.opt.density == 4000 and model.opt.viscosity == 0.1
    assert (model.nq, model.nv, model.nu) == (5, 5, 2)
    # three capsules of length 1 and radius 0.1, density 1000: mass = 1000 * (pi r^2 L + 4/3 pi r^3)
    capsule_mass = 1000 * (math.pi * 0.1**2 * 1 + 4 / 3 * math.pi * 0.1**3)
    np.testing.assert_allclose(model.body_mass[1:], [capsule_mass] * 3)
    joint = {model.joint(i).name: model.joint(i) for i in range(model.njnt)}
    slide, hinge = mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE
    assert [int(j.type[0]) for j in joint.values()] == [slide, slide, hinge, hinge, hinge]
    np.testing.assert_allclose(joint["rot_1"].pos, [-1.5, 0, 0])  # root hinge mid-body
    for hinge in ("rot_2", "rot_3"):
        np.testing.assert_allclose(joint[hinge].range, np.radians([-100, 100]))
    np.testing.assert_allclose(model.actuator_gear[:, 0], [150, 150])
    np.testing.assert_allclose(model.actuator_ctrlrange, [[-1, 1], [-1, 1]])
    np.testing.assert_allclose(model.site("tip").pos, [0, 0, 0])


def test_reset_clears_finite_difference_velocities():
    for name, index in (("poplin-swimmer", -1), ("poplin-pets-cheetah", 0)):
        env = make_env(name)
        env.reset(seed=0)
        for _ in range(10):
            obs, *_ = env.step(np.ones(env.action_space.shape, np.float32))
        assert obs[index] != 0.0
        obs, _ = env.reset(seed=1)
        assert obs[index] == 0.0


# --- Ray --------------------------------------------------------------------------------------------

def test_rllib_env_id_registers_a_buildable_creator():
    from ray.tune.registry import ENV_CREATOR, _global_registry

    env_id = rllib_env_id("walker2d")
    assert env_id == "svglab/Walker2d"
    assert rllib_env_id("Walker2d") == env_id  # idempotent
    env = _global_registry.get(ENV_CREATOR, env_id)({})
    obs, _ = env.reset(seed=0)
    assert obs.shape == (17,) and env.action_space.shape == (6,)
    poplin = _global_registry.get(ENV_CREATOR, rllib_env_id("poplin-swimmer"))({})
    assert poplin.reset(seed=0)[0].shape == (9,)


def test_sweeps_init_stays_empty():
    assert Path(sweeps.__file__).with_name("__init__.py").read_text().strip() == ""


# --- the cheetah model without MuJoCo 4's deprecated settotalmass --------------------------------------

@pytest.mark.parametrize("name", ["HalfCheetah", "poplin-cheetah", "poplin-pets-cheetah"])
def test_cheetah_step_leaves_no_mujoco_log(name, tmp_path):
    env = make_env(name)  # the working directory is tmp_path (autouse fixture)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_our_half_cheetah_is_gymnasiums_model():
    gym_xml = Path(gym.envs.mujoco.__file__).parent / "assets" / "half_cheetah.xml"
    assert 'settotalmass="14"' in gym_xml.read_text() and "settotalmass" not in Path(
        envs.HALF_CHEETAH_XML).read_text().split("-->", 1)[1]
    theirs, ours = mujoco.MjModel.from_xml_path(str(gym_xml)), mujoco.MjModel.from_xml_path(envs.HALF_CHEETAH_XML)
    assert ours.body_mass.sum() == pytest.approx(14.0, rel=1e-12)
    arrays = [name for name in dir(theirs) if isinstance(getattr(theirs, name), np.ndarray)]
    assert "body_inertia" in arrays and "dof_invweight0" in arrays
    for name in arrays:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12, atol=1e-12, err_msg=name)


# The official code's per-task config files, config/env/*.yaml (H_init, H_final, beta): docs/official-code.md.
OFFICIAL_SCHEDULES = {
    "poplin-ant": (1, -3, 0.5), "poplin-hopper": (1, 0, 32), "poplin-swimmer": (-2, -32, 0.125),
    "poplin-cheetah": (-1, -4, 1), "poplin-walker2d": (-2, -16, 1 / 64), "poplin-pets-cheetah": (0, 0, 0),
    "Hopper": (0, -2, 1 / 32), "Walker2d": (-2, -8, 1 / 16), "HalfCheetah": (-2, -3, 1), "Ant": (0, -2, 4),
    "Humanoid": (-2, -2, 1),
}


def test_official_schedules_are_the_official_config_files():
    assert set(OFFICIAL_SCHEDULES) == set(TASKS)
    for name, task in TASKS.items():
        assert task.schedule_for("official") == EntropySchedule(*OFFICIAL_SCHEDULES[name]), name
        assert task.schedule_for("table4") == task.schedule == task.schedule_for()  # Table 4 is the default
