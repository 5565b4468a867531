"""An ensemble of MLP delta models: the dynamics model of PETS (Chua et al., 2018) and MBPO (Janner et al.,
2019) that fig. 3 compares the GRU with, trained on one-step transitions.

Member e predicts x_{t+1} = x_t + g_e(x_t, u_t). The members' weights are stacked (E, in, out) per layer and all
members are evaluated on (E, B, in) inputs with one batched matrix product per layer; each member trains on its
own bootstrap batch (`training_batch`), and its loss reaches only its own weights. Rollouts use the GRU's
step interface, with one member per rollout row kept for the whole rollout (PETS' TS-infinity, MBPO); `unroll`,
the multi-step prediction that eq. 11's error scores, is the ensemble's: the mean of the members' trajectories.
The members are deterministic (an MSE fit, as the GRU's eq. 11), not PETS' Gaussian heads. Registered as
dynamics_model="mlp_ensemble" (dynamics_models.py).
"""
import torch
from torch import nn

from algorithms.sac_svg import losses
from algorithms.sac_svg.networks import StackedMLPs, matmul_precision
from algorithms.sac_svg.replay import TransitionReplay


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

    # --- the variant's training (dynamics_models.py) ---
    @classmethod
    def build(cls, obs_dim: int, act_dim: int, n) -> "MLPEnsembleDynamics":
        """From the network sizes `n` (NetworkHyperparameters): ensemble_size members of model_hidden_dim units."""
        return cls(obs_dim, act_dim, n.model_hidden_dim, n.model_hidden_depth, n.ensemble_size, n.world_model_dtype)

    @staticmethod
    def draw(replay: TransitionReplay, config) -> torch.Tensor:
        """The replay's random numbers for one training batch (`training_batch`)."""
        return replay.draw_transitions(config.ensemble_size * config.seq_batch_size)

    @staticmethod
    def training_batch(replay: TransitionReplay, draw: torch.Tensor, config) -> dict[str, torch.Tensor]:
        """One-step transitions, one bootstrap batch of seq_batch_size rows per member: (E, B, dim) each."""
        batch = replay.transitions_at(draw)
        return {key: batch[key].view(config.ensemble_size, config.seq_batch_size, -1)
                for key in ("obs", "action", "next_obs")}

    def training_loss(self, batch: dict[str, torch.Tensor], normalizer) -> tuple[torch.Tensor, torch.Tensor]:
        """The sum of the members' one-step losses (each member's gradient is its own loss's) and, reported,
        their mean: the loss per model."""
        member_losses = losses.ensemble_dynamics_losses(self, normalizer(batch["obs"]), batch["action"],
                                                         normalizer(batch["next_obs"]))
        return member_losses.sum(), member_losses.mean()

    @staticmethod
    def grad_clip(config) -> None:
        """Unclipped, as in MBPO: no member's gradient rescales another's."""
        return None
