"""The world model: delta dynamics (eq. 11), reward (eq. 12) and termination (eq. 13). The dynamics are the
config's `dynamics_model`, built from the registry (dynamics_models.py): the paper's GRU (gru.py), or an ensemble
of MLPs (ensemble.py), behind the same step/unroll interface.

`matmul_dtype="bfloat16"` runs the world model's matrix products in bfloat16 (outputs, losses, gradients and
optimizer state stay float32); the actor and critic always compute in float32.
"""
import torch
from torch import nn

from algorithms.sac_svg.networks import matmul_precision, mlp


class WorldModel(nn.Module):
    """Dynamics f, reward r(x, u) and termination logit d(x, u)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int, dynamics: nn.Module,
                 matmul_dtype: str = "float32"):
        super().__init__()
        self.dynamics = dynamics
        self.reward = mlp(obs_dim + act_dim, hidden_dim, 1, hidden_depth)
        self.termination = mlp(obs_dim + act_dim, hidden_dim, 1, hidden_depth)
        self.matmul_dtype = matmul_dtype

    def predicted_reward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        with matmul_precision(x, self.matmul_dtype):
            return self.reward(torch.cat([x, u], dim=-1)).squeeze(-1)

    def termination_logit(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        with matmul_precision(x, self.matmul_dtype):
            return self.termination(torch.cat([x, u], dim=-1)).squeeze(-1)

    def reward_and_termination_logit(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predicted_reward(x, u), self.termination_logit(x, u)
