"""An ensemble of MLP delta models: the dynamics model of PETS (Chua et al., 2018) and MBPO (Janner et al.,
2019) that fig. 3 compares the GRU with, trained on one-step transitions.

Member e predicts x_{t+1} = x_t + g_e(x_t, u_t). The members' weights are stacked (E, in, out) per layer and all
members are evaluated on (E, B, in) inputs with one batched matrix product per layer; each member trains on its
own bootstrap batch (learner.py), and its loss reaches only its own weights. Rollouts use the GRU's
step interface, with one member per rollout row kept for the whole rollout (PETS' TS-infinity, MBPO); `unroll`,
the multi-step prediction that eq. 11's error scores, is the ensemble's: the mean of the members' trajectories.
The members are deterministic (an MSE fit, as the GRU's eq. 11), not PETS' Gaussian heads.
"""
import torch
from torch import nn

from algorithms.sac_svg.networks import StackedMLPs, matmul_precision


class MLPEnsembleDynamics(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int, ensemble_size: int,
                 matmul_dtype: str = "float32"):
        super().__init__()
        self.members = StackedMLPs(n=ensemble_size, in_dim=obs_dim + act_dim, hidden_dim=hidden_dim,
                                   out_dim=obs_dim, depth=hidden_depth)
        self.ensemble_size = ensemble_size
        self.matmul_dtype = matmul_dtype

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Every member's next state from its own rows: x (E, B, obs_dim), u (E, B, act_dim) -> (E, B, obs_dim)."""
        with matmul_precision(x, self.matmul_dtype):
            return x + self.members(torch.cat([x, u], dim=-1)).float()

    def step(self, x: torch.Tensor, u: torch.Tensor, members: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One model step of each row with its member, (B,) indices; None draws them uniformly (a rollout's
        first step). Every member is evaluated on every row (one batched product per layer, as MBPO does) and
        each row keeps its own member's prediction, so the gradient reaches only that member."""
        if members is None:
            members = torch.randint(self.ensemble_size, x.shape[:1], device=x.device)
        every = self(x.expand(self.ensemble_size, *x.shape), u.expand(self.ensemble_size, *u.shape))
        index = members.view(1, -1, 1).expand(1, *x.shape)
        return every.gather(0, index).squeeze(0), members

    def unroll(self, x1: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The ensemble's prediction f(x_1, u_{1:L-1}) -> x_{2:L}: the mean of its members' trajectories, each
        member unrolled on its own (`member_unrolls`): the mean of the states the ensemble's TS-infinity rollouts
        reach, so its squared error is below the members' average by their spread (Jensen)."""
        return self.member_unrolls(x1, actions).mean(dim=0)

    def member_unrolls(self, x1: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Every member's own trajectory from every row, (E, L-1, B, obs_dim): member e steps from its own previous
        prediction. Actions are time-major (L-1, B, act_dim)."""
        x = x1.expand(self.ensemble_size, *x1.shape)
        predictions = []
        for u in actions:
            x = self(x, u.expand(self.ensemble_size, *u.shape))
            predictions.append(x)
        return torch.stack(predictions, dim=1)
