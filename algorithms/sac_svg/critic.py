"""The critic: double Q-learning over concat(x, u) (eq. 5)."""
import torch

from algorithms.sac_svg.networks import StackedMLPs

# Widest layers that evaluate Q1 and Q2 with one batched product: narrow layers gain from fewer calls, wide ones
# lose to the batched product's layout.
BATCHED_MAX_WIDTH = 128


class DoubleQCritic(StackedMLPs):
    """Two independent Q networks; the actor and the targets use min(Q1, Q2).

    Layer k of Q1 and Q2 is stored stacked as one (2, in, out) weight; with `batched` (by default up to
    BATCHED_MAX_WIDTH units) both are evaluated at once, one batched matrix product per layer (forward and
    backward), not two. A learner that compiles its updates turns it off once, when it is built (learner.py):
    compiled, two products are faster.
    Each Q_i starts exactly as a separate `mlp` (built in the same order, so the same random numbers) and
    computes the same function either way.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, hidden_depth: int, batched: bool | None = None):
        super().__init__(n=2, in_dim=obs_dim + act_dim, hidden_dim=hidden_dim, out_dim=1, depth=hidden_depth)
        self.batched = hidden_dim <= BATCHED_MAX_WIDTH if batched is None else batched

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xu = torch.cat([x, u], dim=-1)
        if not self.batched:
            return self.q(0, xu), self.q(1, xu)
        q1, q2 = super().forward(xu.expand(2, *xu.shape)).squeeze(-1)  # both Q at once, (2, B, in) inputs
        return q1, q2

    def min_q(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return torch.minimum(*self(x, u))

    def q(self, i: int, xu: torch.Tensor) -> torch.Tensor:
        """Q_i(concat(x, u)) alone, one plain matrix product per layer."""
        return self.member(i, xu).squeeze(-1)
