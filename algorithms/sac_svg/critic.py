"""The critic: double Q-learning over concat(x, u) (eq. 5)."""
import torch
from torch import nn

from algorithms.sac_svg.networks import mlp

# Widest layers for which one batched product of Q1 and Q2 beats two separate products on a CPU (critic
# forward and backward): narrow layers gain from fewer calls, wide ones lose to the batched product's layout.
BATCHED_MAX_WIDTH = 128


class DoubleQCritic(nn.Module):
    """Two independent Q networks; the actor and the targets use min(Q1, Q2).

    Layer k of Q1 and Q2 is stored stacked as one (2, in, out) weight; up to BATCHED_MAX_WIDTH units both are
    evaluated at once in eager mode, one batched matrix product per layer (forward and backward), not two.
    Each Q_i starts exactly as a separate `mlp` (built in the same order, so the same random numbers) and
    computes the same function either way.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int, batched: bool | None = None):
        super().__init__()
        self.batched = hidden_dim <= BATCHED_MAX_WIDTH if batched is None else batched
        pair = [mlp(obs_dim + act_dim, hidden_dim, 1, hidden_depth) for _ in range(2)]
        linears = [[layer for layer in q if isinstance(layer, nn.Linear)] for q in pair]
        self.weights = nn.ParameterList(torch.stack([l1.weight.detach().t(), l2.weight.detach().t()])
                                        for l1, l2 in zip(*linears))  # (2, in, out) per layer
        self.biases = nn.ParameterList(torch.stack([l1.bias.detach(), l2.bias.detach()]).unsqueeze(1)
                                       for l1, l2 in zip(*linears))  # (2, 1, out) per layer

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xu = torch.cat([x, u], dim=-1)
        if not self.batched or torch.compiler.is_compiling():  # compiled, two products are faster (learner.py)
            return self.q(0, xu), self.q(1, xu)
        q1, q2 = self._layers(xu.expand(2, *xu.shape), torch.baddbmm)  # both Q at once, (2, B, in) inputs
        return q1, q2

    def min_q(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return torch.minimum(*self(x, u))

    def q(self, i: int, xu: torch.Tensor) -> torch.Tensor:
        """Q_i(concat(x, u)) alone, one plain matrix product per layer."""
        return self._layers(xu, lambda b, h, w: torch.addmm(b[i], h, w[i]))

    def _layers(self, h: torch.Tensor, linear) -> torch.Tensor:
        """The MLP over the stacked weights: linear(bias, h, weight) per layer, ReLU between layers."""
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = linear(b, h, w)
            if k < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)
