"""How svglab names a task's environment, defined once: the task's name is what the user typed (`TASK=`,
a registry name in its registry spelling); RLlib's env registry holds it as "svglab/<name>"; a file or folder
name carries it with every character outside [A-Za-z0-9._-] replaced by "_"."""

import re

NAMESPACE = "svglab"  # RLlib's env ids of svglab's tasks, and gymnasium's namespace of svglab's own environments
_PREFIX = f"{NAMESPACE}/"


def env_id(task_name: str) -> str:
    """The task's id in RLlib's (ray.tune's) env registry: "svglab/<name>"."""
    return f"{_PREFIX}{task_name}"


def task_name(env: str) -> str:
    """The task's name back from its RLlib env id (an id without the prefix is returned as it is)."""
    return env.removeprefix(_PREFIX)


def file_name(task_name: str) -> str:
    """The task's name as a safe file name: "dm_control/cheetah-run-v0" -> "dm_control_cheetah-run-v0",
    "my_envs:Arm-v0" -> "my_envs_Arm-v0"."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", task_name).lstrip(".") or "_"
