"""Adam steps on given gradients, one optimizer per component, with the per-call overhead taken out.

The learner computes each component's gradients with autograd.grad (no loss moves another component's weights)
and hands them here. The mathematics is torch.optim.Adam's; what this module adds is speed at small sizes,
where the optimizer's bookkeeping costs more than its arithmetic: the fused kernel called directly on Adam's
own state, the same step in foreach ops inside a compiled graph, and the total gradient norm computed once per
step for both the non-finite guard and the clip.
"""
import torch


def adam_options(device: torch.device, fast: bool) -> dict[str, bool]:
    """Adam's fused kernel where `device` has one, else its foreach (multi-tensor) loop; fast=False is
    PyTorch's CPU default, one parameter at a time. All three compute the same update."""
    if not fast:
        return {"foreach": False}
    if device.type in torch.utils._foreach_utils._get_fused_kernels_supported_devices():
        return {"fused": True}
    return {"foreach": True}


class AdamStep:
    """`optimizer.step()` on given gradients. With a fused Adam it calls the fused kernel directly on Adam's own
    state, without Optimizer.step's per-call bookkeeping (hooks, state lookups, grouping), which costs more
    than the kernel at small sizes; the state stays in the optimizer, so checkpoints are unchanged.
    `compiled`: the steps run inside a torch.compile graph, where inductor has no lowering of the fused kernel,
    so the same step is taken in foreach ops (`adam_foreach`)."""

    def __init__(self, optimizer: torch.optim.Adam, compiled: bool = False):
        self.optimizer = optimizer
        self.state: tuple[list[torch.Tensor], ...] | None = None  # exp_avg, exp_avg_sq, step per parameter
        self.state_step = self.foreach_step if compiled else self.fused_step
        optimizer.register_load_state_dict_post_hook(self.forget)

    def forget(self, optimizer=None) -> None:
        self.state = None  # a restored optimizer holds new state tensors

    @property
    def ready(self) -> bool:
        """The next step is the fused kernel on Adam's existing state (which the first step creates)."""
        return self.state is not None

    def step(self, grads: list[torch.Tensor], skip: torch.Tensor) -> None:
        """Adam's step, or none where `skip` (a device scalar) is 1: weights, moments and step count stay."""
        group = self.optimizer.param_groups[0]
        if not group["fused"] or self.state is None:
            self.torch_adam_step(grads, skip)
            return
        self.state_step(group, grads, skip)

    def fused_step(self, group: dict, grads: list[torch.Tensor], skip: torch.Tensor) -> None:
        """The fused kernel on Adam's state."""
        params = group["params"]
        exp_avgs, exp_avg_sqs, steps = self.state
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                           beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                           maximize=group["maximize"], found_inf=skip)
        torch._foreach_sub_(steps, [skip] * len(steps))  # as torch.optim.Adam does with found_inf

    def foreach_step(self, group: dict, grads: list[torch.Tensor], skip: torch.Tensor) -> None:
        """The same step in foreach ops, which inductor compiles."""
        beta1, beta2 = group["betas"]
        adam_foreach(group["params"], grads, *self.state, group["lr"], beta1, beta2, group["eps"], skip)

    def torch_adam_step(self, grads: list[torch.Tensor], skip: torch.Tensor) -> None:
        """torch.optim.Adam's own step (unfused, or the fused one's first step, which creates its state); the
        skip flag is read on the host."""
        if skip.item():
            return
        params = self.optimizer.param_groups[0]["params"]
        for p, g in zip(params, grads):
            p.grad = g
        self.optimizer.step()
        for p in params:
            p.grad = None
        if self.optimizer.param_groups[0]["fused"]:
            self.state = tuple([self.optimizer.state[p][k] for p in params] for k in ("exp_avg", "exp_avg_sq", "step"))


@torch.no_grad()
def adam_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr: float, beta1: float, beta2: float, eps: float,
                 skip: torch.Tensor) -> None:
    """torch.optim.Adam's step (its capturable foreach form, no weight decay), skipped where `skip` is 1."""
    keep = 1 - skip
    grads = [torch.where(skip > 0, 0.0, g) for g in grads]
    new_steps = torch._foreach_add(steps, keep)  # out of place: inductor reads an in-place increment inconsistently
    torch._foreach_lerp_(exp_avgs, grads, (1 - beta1) * keep)
    torch._foreach_mul_(exp_avg_sqs, 1 - (1 - beta2) * keep)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    for p, m, v, step in zip(params, exp_avgs, exp_avg_sqs, new_steps):
        step_size = lr / (1 - beta1**step)
        denom = v.sqrt() / (1 - beta2**step).sqrt() + eps
        p.sub_(keep * step_size * m / denom)
    torch._foreach_copy_(steps, new_steps)


def grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The total 2-norm of a list of gradients, as torch.nn.utils.clip_grad_norm_ computes it."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def compiled_grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """`grad_norm` from per-tensor norms, which inductor fuses (it has no lowering of _foreach_norm, whose CPU
    fallback loops): for updates compiled with torch.compile."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clip_grad_norm(grads: list[torch.Tensor], max_norm: float, total_norm: torch.Tensor) -> None:
    """torch.nn.utils.clip_grad_norm_'s rescaling (coefficient max_norm / (total_norm + 1e-6) capped at 1, with
    total_norm = grad_norm(grads)), applied to gradients that are not stored on the parameters."""
    torch._foreach_mul_(grads, (max_norm / (total_norm + 1e-6)).clamp(max=1.0))
