"""What `TASK=` names, resolved to a `Task` before Ray starts, and the one way every task's environment is built.

A name is looked up in this order (one rule, docs/tasks.md "Your own task"):
1. a registry name (tasks.registry, case-insensitive): the paper's tasks, with their published numbers;
2. a name with a ":" is gymnasium's `module:EnvId-v0` or a factory path `package.module:Factory`: the module is
   imported; if that import registered the id after the ":" with gymnasium, the task is that environment,
   otherwise it is the module's attribute of that name, a `gymnasium.Env` class or a function returning one;
3. any other name is a gymnasium id (`InvertedPendulum-v5`, `Pendulum-v1`, ...).

A task outside the registry is built once here, reset and stepped once, and what a registry entry states by
hand is derived from it (`derived_task`); a task that cannot work raises TaskError, one line naming the task and
what to change.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.spaces import Box, Dict

from tasks import names
from tasks.envs import RescaleActionToUnit
from tasks.registry import EVAL_INTERVAL, GYM_SUITE, TASKS, EntropySchedule, Task, UnknownTaskError, registered_task

# What a task outside the registry gets (each one a config field --set can change): POPLIN's training length
# (Table 2) and evaluation interval (the official eval_freq), SAC's target entropy -|A| held constant (eq. 14
# with H_init = H_final), the environment's own episode limit, else the registry's 1,000 steps.
TRAIN_STEPS = 200_000
EPISODE_STEPS = 1000
_SVGLAB_PACKAGES = ("agents", "algorithms", "benchmarks", "dashboards", "sweeps", "tasks")


class TaskError(UnknownTaskError):
    """A task that cannot run: the message names it and says what to change."""


def get_task(name: str) -> Task:
    """The task `name` names (the module's docstring); raises TaskError (an UnknownTaskError)."""
    return registered_task(name) or derived_task(name.strip())


@functools.cache
def derived_task(name: str) -> Task:
    """A task outside the registry, built once and checked; everything a registry entry states, derived."""
    entry_point, module = _source(name)
    spec = EnvSpec(id=name, entry_point=entry_point) if entry_point else name
    env = _built(name, spec)
    try:
        flatten = _check_spaces(name, env)
        limit = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else EPISODE_STEPS
    finally:
        env.close()
    task = Task(name=name, suite=GYM_SUITE, paper_name=name, obs_dim=0, act_dim=0, train_steps=TRAIN_STEPS,
                eval_interval=EVAL_INTERVAL["poplin"], schedule=EntropySchedule(0, 0, None),
                official_schedule=None, max_episode_steps=limit, differs_from_paper="", gym_id=name,
                entry_point=entry_point, flatten_obs=flatten, module=module)
    obs_dim, act_dim = _checked_steps(task)
    target = -float(act_dim)  # SAC's heuristic -|A|, constant
    return dataclasses.replace(task, obs_dim=obs_dim, act_dim=act_dim, schedule=EntropySchedule(target, target, None))


def make_env(task: Task | str, **env_kwargs) -> gym.Env:
    """The task's environment: its episode limit, observations flat, actions in [-1, 1].

    `env_kwargs` go to the underlying environment (e.g. render_mode, or xml_file for MBPO tasks), and may
    change the episode limit (max_episode_steps)."""
    task = task if isinstance(task, Task) else get_task(task)
    kwargs = {"max_episode_steps": task.max_episode_steps, **task.gym_kwargs, **env_kwargs}
    spec = EnvSpec(id=task.gym_id, entry_point=task.entry_point) if task.entry_point else task.gym_id
    env = gym.make(spec, **kwargs)
    return RescaleActionToUnit(gym.wrappers.FlattenObservation(env) if task.flatten_obs else env)


def _create_env(task: Task, env_config: dict) -> gym.Env:
    return make_env(task, **dict(env_config))


def rllib_env_id(task: Task | str) -> str:
    """Register the task with ray.tune's env registry under names.env_id and return that id.

    The creator holds a derived task as resolved here, so a worker builds it without checking it again, and a
    registry task by name, so a worker finds its files (XML models) in its own copy of svglab. Registering again
    stores the same creator under the same id, so repeated calls are harmless (and also re-register after a Ray
    restart, which empties the registry)."""
    from ray.tune.registry import register_env

    task = task if isinstance(task, Task) else get_task(task)
    env_id = names.env_id(task.name)
    register_env(env_id, functools.partial(_create_env, task.name if registered_task(task.name) else task))
    return env_id


def shipped_modules(task: Task) -> list[ModuleType]:
    """The researcher's code a cluster's workers need: the top-level package (or module) of the task's module,
    unless it is installed (site-packages: installed on every node as on the driver) or svglab's own."""
    if task.module is None:
        return []
    top = sys.modules[task.module.split(".")[0]]
    where = getattr(top, "__file__", None) or next(iter(getattr(top, "__path__", [])), None)
    if where is None or top.__name__ in _SVGLAB_PACKAGES or {"site-packages", "dist-packages"} & set(Path(where).parts):
        return []
    return [top]


# ---------------------------------------------------------------- resolving and checking a name


def _source(name: str) -> tuple[str | None, str | None]:
    """(entry point, module) of the name: (None, None) for a gymnasium id, (None, module) for `module:EnvId`
    (gymnasium imports the module itself), ("module:attr", module) for a class or factory."""
    if ":" not in name:
        if name not in gym.registry:
            raise TaskError(f"TASK={name}: not a registry task ({', '.join(TASKS)}) and not a gymnasium id."
                            f"{_closest(name)} `make tasks` lists the forms TASK= takes")
        return None, None
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the researcher's code: any error it raises, said in one line
        raise TaskError(f"TASK={name}: module {module_name!r} does not import ({_short(error)}); put its folder on "
                        "PYTHONPATH or install it") from None
    if attr in gym.registry:
        return None, module_name
    if not callable(getattr(module, attr, None)):
        raise TaskError(f"TASK={name}: importing {module_name!r} registered no gymnasium id {attr!r} and it has no "
                        f"class or function {attr!r}; name a registered id or a gymnasium.Env class or factory")
    return name, module_name


def _built(name: str, spec: EnvSpec | str) -> gym.Env:
    try:
        env = gym.make(spec)
    except gym.error.Error as error:  # an id gymnasium knows the name of but cannot make (version, dependency)
        raise TaskError(f"TASK={name}: {_short(error)}") from None
    except Exception as error:
        raise TaskError(f"TASK={name}: building the environment raised {_short(error)}") from None
    return env


def _check_spaces(name: str, env: gym.Env) -> bool:
    """Actions a bounded flat Box, observations a flat Box or a Dict of them; returns whether to flatten."""
    act = env.action_space
    if not isinstance(act, Box) or len(act.shape) != 1:
        raise TaskError(f"TASK={name}: its action space is {act}; SAC-SVG(H) needs continuous actions, a "
                        "one-dimensional gymnasium.spaces.Box")
    if not (np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high))):
        raise TaskError(f"TASK={name}: its action space {act} is unbounded; give the Box finite low and high "
                        "(svglab rescales actions to [-1, 1])")
    obs = env.observation_space
    parts = list(obs.spaces.values()) if isinstance(obs, Dict) else [obs]
    for part in parts:
        if not isinstance(part, Box) or len(part.shape) != 1:
            shape = f" of shape {part.shape}" if isinstance(part, Box) else ""
            raise TaskError(f"TASK={name}: observations {part}{shape} are not a flat vector; SAC-SVG(H) takes a "
                            "one-dimensional Box (or a Dict of them): flatten or encode images in the environment")
    return isinstance(obs, Dict)


def _checked_steps(task: Task) -> tuple[int, int]:
    """Reset and one step through make_env; (observation size, action size)."""
    try:
        env = make_env(task)
    except Exception as error:
        raise TaskError(f"TASK={task.name}: building the environment raised {_short(error)}") from None
    try:
        for stage in ("reset", "first step"):
            try:
                obs = env.reset(seed=0)[0] if stage == "reset" else env.step(np.zeros(env.action_space.shape))[0]
            except Exception as error:
                raise TaskError(f"TASK={task.name}: its {stage} raised {_short(error)}") from None
            obs = np.asarray(obs, dtype=np.float64)
            if not np.all(np.isfinite(obs)):
                raise TaskError(f"TASK={task.name}: its observation after {stage} is not finite ({obs}); it "
                                "must hold finite numbers")
        return int(obs.size), int(env.action_space.shape[0])
    finally:
        env.close()


def _closest(name: str) -> str:
    close = difflib.get_close_matches(name, [*TASKS, *gym.registry], n=3, cutoff=0.6)
    return f" Closest: {', '.join(close)}." if close else ""


def _short(error: BaseException, limit: int = 160) -> str:
    text = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return text if len(text) <= limit else text[:limit - 3] + "..."

