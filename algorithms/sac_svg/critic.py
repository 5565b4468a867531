"""The critic: double Q-learning over concat(x, u) (eq. 5)."""
import torch
from torch import nn

from algorithms.sac_svg.networks import mlp


class DoubleQCritic(nn.Module):
    """Two independent Q networks; the actor and the targets use min(Q1, Q2)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int):
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, hidden_dim, 1, hidden_depth)
        self.q2 = mlp(obs_dim + act_dim, hidden_dim, 1, hidden_depth)

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xu = torch.cat([x, u], dim=-1)
        return self.q1(xu).squeeze(-1), self.q2(xu).squeeze(-1)

    def min_q(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return torch.minimum(*self(x, u))
