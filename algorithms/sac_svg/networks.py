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


class StackedMLPs(nn.Module):
    """`n` independent MLPs, each built as `mlp` builds it (in order, so from the same random numbers), with
    layer k's weights stored stacked as one (n, in, out) tensor and its biases as (n, 1, out).

    `forward` evaluates all n on (n, B, in) inputs with one batched matrix product per layer (torch.baddbmm);
    `member` evaluates MLP i alone. MLP i's output depends on its own slices only, so a loss of one MLP's
    output has zero gradient on every other MLP's slices.
    """

    def __init__(self, n: int, in_dim: int, hidden_dim: int, out_dim: int, depth: int):
        super().__init__()
        nets = [mlp(in_dim, hidden_dim, out_dim, depth) for _ in range(n)]
        linears = [[layer for layer in net if isinstance(layer, nn.Linear)] for net in nets]
        self.weights = nn.ParameterList(torch.stack([layer.weight.detach().t() for layer in layers])
                                        for layers in zip(*linears))  # (n, in, out) per layer
        self.biases = nn.ParameterList(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1)
                                       for layers in zip(*linears))  # (n, 1, out) per layer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """All MLPs: (n, B, in) -> (n, B, out)."""
        return self.layers(h, torch.baddbmm)

    def member(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """MLP i alone, one plain matrix product per layer: (B, in) -> (B, out)."""
        return self.layers(h, lambda b, x, w: torch.addmm(b[i], x, w[i]))

    def layers(self, h: torch.Tensor, linear) -> torch.Tensor:
        """The MLP over the stacked weights: linear(bias, h, weight) per layer, ReLU between layers."""
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = linear(b, h, w)
            if k < len(self.weights) - 1:
                h = torch.relu(h)
        return h
