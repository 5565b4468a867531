"""svglab's environments: POPLIN's tasks rebuilt on gymnasium + MuJoCo, and the [-1, 1] action wrapper.

Importing this package registers the POPLIN environments with gymnasium under "svglab/<Class>-v0";
`tasks` is the user-facing registry (task names, dimensions, schedules).
"""

import gymnasium as gym

from tasks.envs.poplin import (
    HALF_CHEETAH_XML,
    PoplinAnt,
    PoplinCheetah,
    PoplinEnv,
    PoplinHopper,
    PoplinPetsCheetah,
    PoplinSwimmer,
    PoplinWalker2d,
)
from tasks.envs.rescale import RescaleActionToUnit
from tasks.names import NAMESPACE

POPLIN_ENVS = (PoplinAnt, PoplinHopper, PoplinSwimmer, PoplinCheetah, PoplinWalker2d, PoplinPetsCheetah)


def gym_id(env_class: type) -> str:
    return f"{NAMESPACE}/{env_class.__name__}-v0"


for _env_class in POPLIN_ENVS:
    if gym_id(_env_class) not in gym.registry:
        gym.register(gym_id(_env_class), entry_point=_env_class)

__all__ = [
    "HALF_CHEETAH_XML", "POPLIN_ENVS", "PoplinEnv", "RescaleActionToUnit", "gym_id", *[c.__name__ for c in POPLIN_ENVS],
]
