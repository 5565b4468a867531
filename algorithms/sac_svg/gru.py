"""The paper's dynamics model (section 4.2): a GRU over encoded (x_t, u_t), trained on multi-step sequences
(eq. 11). Registered as dynamics_model="gru" (dynamics_models.py)."""
import torch
import torch.nn.functional as F
from torch import nn

from algorithms.sac_svg import losses
from algorithms.sac_svg.networks import matmul_precision, mlp
from algorithms.sac_svg.replay import SequenceBatch, TransitionReplay


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

    # --- the variant's training (dynamics_models.py) ---
    @classmethod
    def build(cls, obs_dim: int, act_dim: int, n) -> "GRUDynamics":
        """From the network sizes `n` (NetworkHyperparameters): the encoder and decoder model_hidden_dim wide."""
        return cls(obs_dim, act_dim, n.model_hidden_dim, n.model_hidden_depth, n.decoder_depth, n.gru_hidden_dim,
                   n.gru_layers, n.dynamics_detach_feedback, n.world_model_dtype)

    @staticmethod
    def draw(replay: TransitionReplay, config) -> torch.Tensor:
        """The replay's random numbers for one training batch (`training_batch`)."""
        return replay.draw_sequences(config.seq_batch_size)

    @staticmethod
    def training_batch(replay: TransitionReplay, draw: torch.Tensor, config) -> SequenceBatch:
        """D_seq: multi-step sequences of config.sequence_length states for eq. 11."""
        return replay.sequences_at(draw, config.sequence_length)

    def training_loss(self, batch: SequenceBatch, normalizer) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 11 on the batch: the loss to minimize and the one reported (the same)."""
        loss = losses.dynamics_loss(self, normalizer(batch.states), batch.actions, batch.valid)
        return loss, loss

    @staticmethod
    def grad_clip(config) -> float | None:
        """The official code's clip of the dx gradient (dynamics_grad_clip)."""
        return config.dynamics_grad_clip


def gru_cell(z: torch.Tensor, h: torch.Tensor | None, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """One GRU layer step with torch.nn.GRU's weights and equations; h = None is the zero state h_1 = 0,
    for which W_hh h vanishes and its matrix product is skipped (exactly the same result)."""
    r_i, z_i, n_i = F.linear(z, w_ih, b_ih).chunk(3, dim=-1)
    r_h, z_h, n_h = (b_hh if h is None else F.linear(h, w_hh, b_hh)).chunk(3, dim=-1)
    reset = torch.sigmoid(r_i + r_h)
    update = torch.sigmoid(z_i + z_h)
    candidate = torch.tanh(n_i + reset * n_h)
    return (1 - update) * candidate if h is None else candidate + update * (h - candidate)
