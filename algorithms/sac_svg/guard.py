"""Non-finite updates: a NaN or infinite loss or gradient is caught before it reaches the weights.

Each component's update computes one device flag (1.0: the loss or a gradient is not finite) that the fused
Adam kernel takes as `found_inf` and then skips the step, so the check costs no host sync per update. The
flags are counted on the device and read once per learner call, with the other metrics: a component whose
last `limit` updates were all skipped, or whose weights are not finite, fails the trial with its name.
"""
import torch


class NonFiniteUpdateError(RuntimeError):
    """A component kept producing non-finite losses or gradients, or holds non-finite weights."""


def nonfinite_flag(loss: torch.Tensor, grad_norm: torch.Tensor) -> torch.Tensor:
    """1.0 where the loss or the gradients' total norm (so some gradient element) is NaN or infinite, else 0.0
    (a float32 device scalar)."""
    return (~torch.isfinite(loss.detach().float() + grad_norm.float())).float()


class NonFiniteGuard:
    """Per component: updates skipped since the last read, and the current run of skipped updates."""

    def __init__(self, components: dict[str, list[torch.nn.Parameter]], limit: int, device: torch.device):
        self.components = components
        self.limit = limit
        self.skipped = {name: torch.zeros((), device=device) for name in components}
        self.in_a_row = {name: torch.zeros((), device=device) for name in components}
        self.params = [p for params in components.values() for p in params]
        # The component of each parameter, in the order of self.params (one norm for all, summed per component).
        self.owner = torch.tensor([i for i, params in enumerate(components.values()) for _ in params], device=device)

    def record(self, name: str, flag: torch.Tensor) -> None:
        self.skipped[name].add_(flag)
        self.in_a_row[name].mul_(flag).add_(flag)  # (run + 1) if skipped, else 0

    def read(self, env_step: int) -> int:
        """Updates skipped since the last read; raises NonFiniteUpdateError naming the component."""
        names = list(self.components)
        norms = torch.stack(torch._foreach_norm(self.params))
        weights_finite = norms.new_zeros(len(names)).index_add_(0, self.owner, norms).isfinite()
        skipped, in_a_row, finite = torch.stack([
            torch.stack([self.skipped[n] for n in names]), torch.stack([self.in_a_row[n] for n in names]),
            weights_finite.float()]).tolist()
        for value in self.skipped.values():
            value.zero_()
        for name, run, ok in zip(names, in_a_row, finite):
            if not ok:
                raise NonFiniteUpdateError(f"{name}: non-finite weights by env step {env_step}")
            if run >= self.limit:
                raise NonFiniteUpdateError(f"{name}: {int(run)} updates in a row with a non-finite loss or "
                                           f"gradient, skipped, by env step {env_step} (limit "
                                           f"max_nonfinite_updates={self.limit})")
        return int(sum(skipped))
