"""svglab's tasks: the registry of the paper's tasks by name (`tasks.registry`), the resolution of any other
`TASK=` (a gymnasium id, a researcher's own environment: `tasks.resolve`), the task's names (`tasks.names`) and
the environments behind the registry (`tasks.envs`: POPLIN's tasks rebuilt on gymnasium + MuJoCo, the [-1, 1]
action wrapper).

The public names are re-exported here: `from tasks import get_task, make_env`.
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
    registered_task,
)
from tasks.resolve import TaskError, get_task, make_env, rllib_env_id, shipped_modules

__all__ = [
    "EVAL_INTERVAL", "SCHEDULE_FIELDS", "SCHEDULE_PRESETS", "SUITES", "TASKS", "EntropySchedule", "Task", "TaskError",
    "UnknownScheduleError", "UnknownTaskError", "get_task", "make_env", "registered_task", "rllib_env_id",
    "shipped_modules",
]
