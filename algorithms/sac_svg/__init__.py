"""SAC-SVG(H) (Amos et al.) as an RLlib Algorithm on the new API stack.

`SACSVG` and `SACSVGConfig` are imported on first use, so that a light module of the package (metrics.py:
the metric names the dashboards read) loads without torch and Ray."""
import importlib

__all__ = ["SACSVG", "SACSVGConfig"]
_HOMES = {"SACSVG": "algorithms.sac_svg.algorithm", "SACSVGConfig": "algorithms.sac_svg.config"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
