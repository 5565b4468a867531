"""The task registry: every task svglab can run, by name (`TASK=Walker2d`, `TASK=poplin-cheetah`).

Two suites, as in the paper:
- "mbpo": MBPO's tasks (Table 1 / fig. 3) on gymnasium's MuJoCo v5, with MBPO's truncated observations
  for Ant and Humanoid, standard early termination and a 1,000-step time limit;
- "poplin": POPLIN's tasks (Table 2), rebuilt in `tasks.envs.poplin` from docs/official-code.md ("The POPLIN
  tasks").
Training lengths come from Table 2 (POPLIN) and the official code (MBPO, docs/official-code.md); the
target-entropy schedules from Table 4; evaluation intervals from the official code (every 10k steps on
POPLIN tasks, every 25k on MBPO tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import mujoco

import tasks.envs as envs
from tasks import names


@dataclass(frozen=True)
class EntropySchedule:
    """Table 4's target-entropy schedule, the parameters of eq. 14 (computed in
    algorithms.sac_svg.temperature.target_entropy).

    One vocabulary for the schedule: these fields are named exactly as SACSVGConfig's fields (and so as the
    search space's params, params.json and the dashboards' columns); only displayed headings use the
    paper's notation H_init, H_final, beta."""

    target_entropy_init: float  # H_init
    target_entropy_final: float  # H_final
    target_entropy_beta: float | None  # beta; None = constant target entropy (a '-' in Table 4)


SCHEDULE_FIELDS = tuple(f.name for f in fields(EntropySchedule))


@dataclass(frozen=True, kw_only=True)
class Task:
    name: str  # "Walker2d", "poplin-cheetah", ...
    suite: str  # "mbpo" or "poplin"
    paper_name: str  # the column/row name in the paper's tables
    obs_dim: int
    act_dim: int
    train_steps: int
    eval_interval: int
    schedule: EntropySchedule  # Table 4's (the default)
    official_schedule: EntropySchedule | None  # the official code's config/env file (docs/official-code.md)
    max_episode_steps: int = 1000
    differs_from_paper: str  # one sentence: how our env differs from the paper's gym v1/v2 version
    gym_id: str  # what make_env builds: a gymnasium id ...
    gym_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)  # ... and its kwargs
    entry_point: str | None = None  # a researcher's class or factory ("package.module:Factory"), built instead
    flatten_obs: bool = False  # a Dict of Box observations, flattened into one vector
    module: str | None = None  # the researcher's module the environment comes from (shipped to a cluster)

    @property
    def file_name(self) -> str:
        """The task's name in file and folder names (experiment folders)."""
        return names.file_name(self.name)

    def schedule_for(self, preset: str = "table4") -> EntropySchedule:
        """The task's schedule from `preset`: "table4" (the paper's Table 4, the default) or "official" (the
        official code's per-task config files, docs/official-code.md)."""
        if preset not in SCHEDULE_PRESETS:
            raise UnknownScheduleError(f"Unknown schedules {preset!r}: choose one of {', '.join(SCHEDULE_PRESETS)}.")
        if preset == "official" and self.official_schedule is None:
            raise UnknownScheduleError(f"TASK={self.name} has no official schedule (the official code ran the paper's "
                                       "tasks): use the default (SCHEDULES=table4) or --set target_entropy_*")
        return self.schedule if preset == "table4" else self.official_schedule


SCHEDULE_PRESETS = ("table4", "official")


class UnknownTaskError(ValueError):
    pass


class UnknownScheduleError(ValueError):
    pass


EVAL_INTERVAL = {"mbpo": 25_000, "poplin": 10_000}  # the official eval_freq (docs/official-code.md)
GYM_SUITE = "gym"  # any other environment (tasks.resolve): no published numbers
SUITES = (*EVAL_INTERVAL, GYM_SUITE)

_V5 = "Gymnasium {env}-v5 (mujoco {mj} bindings) instead of gym {env}-v2 on mujoco-py 1.50"
_REBUILT = (
    "Rebuilt from the official specification (docs/official-code.md) as a gymnasium MujocoEnv on {xml} and "
    "today's MuJoCo instead of MBBL's wrapper around gym {gym_env}-v1 (gym 0.7.4/0.9.4)"
)


def _mbpo(name, obs_dim, act_dim, train_steps, schedule, differs, official, paper_name=None, **gym_kwargs) -> Task:
    return Task(
        name=name, suite="mbpo", paper_name=paper_name or name, obs_dim=obs_dim, act_dim=act_dim,
        train_steps=train_steps, eval_interval=EVAL_INTERVAL["mbpo"], schedule=schedule,
        official_schedule=official, differs_from_paper=differs, gym_id=f"{name}-v5", gym_kwargs=gym_kwargs,
    )


def _poplin(name, paper_name, env_class, obs_dim, act_dim, train_steps, schedule, differs, official) -> Task:
    return Task(
        name=name, suite="poplin", paper_name=paper_name, obs_dim=obs_dim, act_dim=act_dim,
        train_steps=train_steps, eval_interval=EVAL_INTERVAL["poplin"], schedule=schedule,
        official_schedule=official, differs_from_paper=differs, gym_id=envs.gym_id(env_class),
    )


_S = EntropySchedule
_MJ = mujoco.__version__
_TASK_LIST = [
    # MBPO tasks. Train steps: the official runs; schedules: Table 4, right ("Cheetah" = HalfCheetah);
    # official schedules: the official code's config/env files (docs/official-code.md).
    _mbpo("Hopper", 11, 3, 1_000_000, _S(0, -1, 0.5),
          _V5.format(env="Hopper", mj=_MJ) + "; v5 pays the healthy reward only while healthy "
          "(not on the terminating step).", official=_S(0, -2, 1 / 32)),
    _mbpo("Walker2d", 17, 6, 2_000_000, _S(-2, -3, 64),
          _V5.format(env="Walker2d", mj=_MJ) + "; v5's model gives both feet friction 1.9 (v2: 0.9 and "
          "1.9; pass xml_file='walker2d.xml' for v2's) and pays the healthy reward only while healthy.",
          official=_S(-2, -8, 1 / 16)),
    _mbpo("HalfCheetah", 17, 6, 2_000_000, _S(-2, -2, None),
          _V5.format(env="HalfCheetah", mj=_MJ) + "; same observation and reward terms.",
          official=_S(-2, -3, 1), paper_name="Cheetah",
          xml_file=envs.HALF_CHEETAH_XML),  # same model, no deprecated settotalmass
    _mbpo("Ant", 27, 8, 2_000_000, _S(2, -4, 1),
          _V5.format(env="Ant", mj=_MJ) + " (MBPO's AntTruncatedObs); contact forces dropped with "
          "include_cfrc_ext_in_observation=False, while the v5 reward still subtracts the contact cost "
          "and pays the healthy reward only while healthy.",
          include_cfrc_ext_in_observation=False, official=_S(0, -2, 4)),
    _mbpo("Humanoid", 45, 17, 5_000_000, _S(-1, -1, None),
          _V5.format(env="Humanoid", mj=_MJ) + " (MBPO's HumanoidTruncatedObs); only qpos[2:] and qvel "
          "are kept by excluding cinert, cvel, qfrc_actuator and cfrc_ext, and the v5 reward includes "
          "the contact cost and pays the healthy reward only while healthy.",
          include_cinert_in_observation=False, include_cvel_in_observation=False,
          include_qfrc_actuator_in_observation=False, include_cfrc_ext_in_observation=False,
          official=_S(-2, -2, 1)),
    # POPLIN tasks. Train steps: Table 2; schedules: Table 4, left; official schedules: config/env files.
    _poplin("poplin-ant", "Ant", envs.PoplinAnt, 27, 8, 200_000, _S(0, 0, None),
            _REBUILT.format(xml="gymnasium's ant.xml", gym_env="Ant") + ".", official=_S(1, -3, 0.5)),
    _poplin("poplin-hopper", "Hopper", envs.PoplinHopper, 11, 3, 200_000, _S(0, 0, None),
            _REBUILT.format(xml="gymnasium's hopper.xml", gym_env="Hopper") + ".", official=_S(1, 0, 32)),
    _poplin("poplin-swimmer", "Swimmer", envs.PoplinSwimmer, 9, 2, 50_000, _S(-1, -8, 0.5),
            "Rebuilt from the official specification (docs/official-code.md) as a gymnasium MujocoEnv on our "
            "fixed_swimmer.xml and today's MuJoCo instead of MBBL's fixed-swimmer env (its own XML, gym "
            "0.7.4/0.9.4), with contacts disabled by contype/conaffinity 0 since MuJoCo dropped "
            "collision='predefined', and the tip velocity taken from kinematics recomputed at the current qpos.",
            official=_S(-2, -32, 0.125)),
    _poplin("poplin-cheetah", "Cheetah", envs.PoplinCheetah, 17, 6, 200_000, _S(0, -3, 0.1),
            _REBUILT.format(xml="gymnasium's half_cheetah.xml", gym_env="HalfCheetah") + ".",
            official=_S(-1, -4, 1)),
    _poplin("poplin-walker2d", "Walker2d", envs.PoplinWalker2d, 17, 6, 200_000, _S(4, -8, 0.5),
            _REBUILT.format(xml="gymnasium's walker2d.xml (the pre-v5 model, feet friction 0.9/1.9)",
                            gym_env="Walker2d") + ".", official=_S(-2, -16, 1 / 64)),
    _poplin("poplin-pets-cheetah", "PETS Cheetah", envs.PoplinPetsCheetah, 18, 6, 50_000, _S(0, -3, 0.1),
            "Rebuilt from the official specification (docs/official-code.md) as a gymnasium MujocoEnv on "
            "gymnasium's half_cheetah.xml and today's MuJoCo instead of MBBL's copy of the PETS half-cheetah "
            "(its own XML asset, mujoco-py).",
            official=_S(0, 0, 0)),  # beta 0 with H_init = H_final: a constant 0
]
TASKS: dict[str, Task] = {task.name: task for task in _TASK_LIST}
_BY_LOWER_NAME = {name.lower(): task for name, task in TASKS.items()}


def registered_task(name: str) -> Task | None:
    """The registry's task called `name` (case-insensitive), None when there is none."""
    return _BY_LOWER_NAME.get(name.strip().lower())
