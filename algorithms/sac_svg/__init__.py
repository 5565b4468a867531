"""SAC-SVG(H) (Amos et al.) as an RLlib Algorithm on the new API stack."""
from algorithms.sac_svg.algorithm import SACSVG
from algorithms.sac_svg.config import SACSVGConfig

__all__ = ["SACSVG", "SACSVGConfig"]
