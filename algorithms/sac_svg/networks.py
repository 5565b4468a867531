"""Building blocks shared by the actor, the critic and the world model."""
import torch
from torch import nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int, depth: int) -> nn.Sequential:
    """`depth` hidden ReLU layers of `hidden_dim` units, then a linear output (depth 0: linear)."""
    dims = [in_dim] + [hidden_dim] * depth
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    layers += [nn.Linear(dims[-1], out_dim), Float32()]
    net = nn.Sequential(*layers)
    net.apply(orthogonal_init)
    return net


def orthogonal_init(module: nn.Module) -> None:
    """Orthogonal weights and zero biases, as in the SAC implementation the paper builds on."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight)
        nn.init.zeros_(module.bias)


def matmul_precision(x: torch.Tensor, dtype: str):
    """Matrix products in bfloat16 on x's device when dtype == "bfloat16"; a no-op for "float32"."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")


class Float32(nn.Module):
    """Outputs in float32: under bfloat16 autocast only the matrix products run in bfloat16."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()
