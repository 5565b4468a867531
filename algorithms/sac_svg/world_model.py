"""The world model: delta dynamics (eq. 11), reward (eq. 12) and termination (eq. 13). The dynamics are the paper's
GRU, or with dynamics_model="mlp_ensemble" an ensemble of MLPs (ensemble.py) behind the same step/unroll interface.

`matmul_dtype="bfloat16"` runs the world model's matrix products in bfloat16 (outputs, losses, gradients and
optimizer state stay float32); the actor and critic always compute in float32.
"""
import torch
import torch.nn.functional as F
from torch import nn

from algorithms.sac_svg.ensemble import MLPEnsembleDynamics
from algorithms.sac_svg.networks import matmul_precision, mlp


class GRUDynamics(nn.Module):
    """x_{t+1} = x_t + f_dec(h_{t+1}),  h_{t+1} = GRU(f_enc(x_t, u_t), h_t),  h_1 = 0 (section 4.2)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, encoder_depth: int, decoder_depth: int,
                 gru_hidden_dim: int, gru_layers: int, detach_feedback: bool, matmul_dtype: str = "float32"):
        super().__init__()
        self.encoder = mlp(obs_dim + act_dim, hidden_dim, gru_hidden_dim, encoder_depth)
        self.gru = nn.GRU(gru_hidden_dim, gru_hidden_dim, num_layers=gru_layers)
        self.decoder = mlp(gru_hidden_dim, hidden_dim, obs_dim, decoder_depth)
        self.detach_feedback = detach_feedback
        self.matmul_dtype = matmul_dtype

    def step(self, x: torch.Tensor, u: torch.Tensor, h: list[torch.Tensor] | None) -> tuple[torch.Tensor, list]:
        """One model step: the predicted next state and the next hidden state (h = None is h_1 = 0)."""
        with matmul_precision(x, self.matmul_dtype):
            z = self.encoder(torch.cat([x, u], dim=-1))
            h_next = []
            for layer in range(self.gru.num_layers):
                z = gru_cell(z, None if h is None else h[layer], *self.gru.all_weights[layer])
                h_next.append(z)
            return x + self.decoder(z), h_next

    def unroll(self, x1: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """f(x_1, u_{1:L-1}) -> predicted x_{2:L}; actions are time-major (L-1, B, act_dim)."""
        x, h = x1, None
        predictions = []
        for u in actions:
            # Optionally feed back a detached prediction; the hidden state keeps its gradient (docs/fidelity.md).
            x_in = x.detach() if self.detach_feedback else x
            x, h = self.step(x_in, u, h)
            predictions.append(x)
        return torch.stack(predictions)


def gru_cell(z: torch.Tensor, h: torch.Tensor | None, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """One GRU layer step with torch.nn.GRU's weights and equations; h = None is the zero state h_1 = 0,
    for which W_hh h vanishes and its matrix product is skipped (exactly the same result)."""
    r_i, z_i, n_i = F.linear(z, w_ih, b_ih).chunk(3, dim=-1)
    r_h, z_h, n_h = (b_hh if h is None else F.linear(h, w_hh, b_hh)).chunk(3, dim=-1)
    reset = torch.sigmoid(r_i + r_h)
    update = torch.sigmoid(z_i + z_h)
    candidate = torch.tanh(n_i + reset * n_h)
    return (1 - update) * candidate if h is None else candidate + update * (h - candidate)


class WorldModel(nn.Module):
    """Dynamics f, reward r(x, u) and termination logit d(x, u)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int, decoder_depth: int,
                 gru_hidden_dim: int, gru_layers: int, detach_feedback: bool, matmul_dtype: str = "float32",
                 dynamics_model: str = "gru", ensemble_size: int = 5):
        super().__init__()
        if dynamics_model == "mlp_ensemble":
            self.dynamics = MLPEnsembleDynamics(obs_dim, act_dim, hidden_dim, hidden_depth, ensemble_size, matmul_dtype)
        else:
            self.dynamics = GRUDynamics(obs_dim, act_dim, hidden_dim, hidden_depth, decoder_depth,
                                        gru_hidden_dim, gru_layers, detach_feedback, matmul_dtype)
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
