"""Running observation normalization (official code; docs/fidelity.md): Welford mean/std, std clipped."""
import torch
from torch import nn


class RunningNormalizer(nn.Module):
    """(x - mean) / clip(std, std_min, std_max) with statistics over every observation seen so far.

    The statistics are buffers of the RL module, so they travel to the env runners with the weights and
    are saved in checkpoints.
    """

    def __init__(self, dim: int, enabled: bool, std_min: float, std_max: float):
        super().__init__()
        self.enabled = enabled
        self.std_min, self.std_max = std_min, std_max
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("loc", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch into the running moments (Chan et al.'s parallel Welford update)."""
        x = x.to(torch.float64)
        n = x.shape[0]
        batch_mean = x.mean(0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        self.m2 += ((x - batch_mean) ** 2).sum(0) + delta**2 * self.count * n / total
        self.count.fill_(total)
        if self.enabled:
            self.loc.copy_(self.mean)
            self.scale.copy_((self.m2 / total).sqrt().clamp(self.std_min, self.std_max))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale
