"""The actor: a tanh-squashed Gaussian policy (eq. 4)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.sac_svg.networks import mlp

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class TanhGaussianActor(nn.Module):
    """u = tanh(mu(x) + sigma(x) * eps), eps ~ N(0, I), with log sigma squashed into the bounds."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int,
                 log_std_min: float, log_std_max: float):
        super().__init__()
        self.trunk = mlp(obs_dim, hidden_dim, 2 * act_dim, hidden_depth)
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-squash mean and log-std of the Gaussian."""
        mu, raw_log_std = self.trunk(x).chunk(2, dim=-1)
        # Smoothly bound log sigma to [log_std_min, log_std_max] (Table 3: [-5, 2]).
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(raw_log_std) + 1)
        return mu, log_std

    def sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action (eq. 4) and its log-probability log pi(u|x)."""
        mu, log_std = self(x)
        eps = torch.randn_like(mu)
        pre_tanh = mu + log_std.exp() * eps
        return torch.tanh(pre_tanh), tanh_gaussian_log_prob(eps, log_std, pre_tanh)

    def mean_action(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic action used for evaluation: tanh(mu(x))."""
        return torch.tanh(self(x)[0])


def tanh_gaussian_log_prob(eps: torch.Tensor, log_std: torch.Tensor, pre_tanh: torch.Tensor) -> torch.Tensor:
    """log N(pre_tanh; mu, sigma) - sum log(1 - tanh(pre_tanh)^2), summed over action dimensions."""
    gaussian = (-0.5 * eps.pow(2) - log_std - LOG_SQRT_2PI).sum(-1)
    # log(1 - tanh(z)^2) = 2 (log 2 - z - softplus(-2z)), numerically stable.
    squash = (2 * (math.log(2) - pre_tanh - F.softplus(-2 * pre_tanh))).sum(-1)
    return gaussian - squash
