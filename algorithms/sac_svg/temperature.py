"""The temperature alpha (eq. 9) and the time-dependent target entropy (eq. 14)."""
import math

import torch
from torch import nn


def target_entropy(step: int, total_steps: int, init: float, final: float, beta: float | None) -> float:
    """Eq. 14: H_t = (H_init - H_final) (1 - t/T)^beta + H_final; constant H_final when beta is None."""
    if beta is None:
        return final
    progress = min(max(step / total_steps, 0.0), 1.0)
    return (init - final) * (1.0 - progress) ** beta + final


class Temperature(nn.Module):
    """alpha = exp(log_alpha), learned with eq. 9."""

    def __init__(self, init_alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init_alpha)))

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()
