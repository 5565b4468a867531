"""Every torch.compile setting of the learner in one place: one env step's updates as one graph."""
from collections.abc import Callable

import torch
import torch._dynamo.config


def compile_env_step_updates(fn: Callable, device: torch.device) -> Callable:
    """torch.compile of a whole update function into one graph (fullgraph) per set of arguments' shapes and Python
    values (the actor horizon): autograd.grad traced into it, the eager random-number stream kept (so compiled
    and eager updates draw the same noise) and tracing through the GRU's weights (GRUDynamics never calls
    torch.nn.GRU's forward). Compiled once per trial: the modules and optimizer state are updated in place.

    On a CPU the graph's wrapper code (allocations, views, kernel and matrix-product calls) is C++ as well
    (inductor's cpp_wrapper): its Python is a large part of a small network's update (docs/performance.md).
    GPUs keep inductor's default wrapper."""
    torch._dynamo.config.trace_autograd_ops = True
    torch._dynamo.config.allow_rnn = True
    options = {"fallback_random": True,
               "size_asserts": False,  # dynamo's guards already check every input's sizes
               "cpp_wrapper": device.type == "cpu"}
    return torch.compile(fn, fullgraph=True, dynamic=False, options=options)
