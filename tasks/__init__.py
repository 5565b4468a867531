"""svglab's tasks: the registry of every task by name (`tasks.registry`) and the environments behind it
(`tasks.envs`: POPLIN's tasks rebuilt on gymnasium + MuJoCo, the [-1, 1] action wrapper).

The registry's public names are re-exported here: `from tasks import get_task, make_env`.
"""

from tasks.registry import (
    EVAL_INTERVAL,
    SCHEDULE_FIELDS,
    SCHEDULE_PRESETS,
    SUITES,
    TASKS,
    EntropySchedule,
    Task,
    UnknownScheduleError,
    UnknownTaskError,
    get_task,
    make_env,
    rllib_env_id,
)

__all__ = [
    "EVAL_INTERVAL", "SCHEDULE_FIELDS", "SCHEDULE_PRESETS", "SUITES", "TASKS", "EntropySchedule", "Task",
    "UnknownScheduleError", "UnknownTaskError", "get_task", "make_env", "rllib_env_id",
]
