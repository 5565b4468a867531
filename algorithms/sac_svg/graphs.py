"""CUDA graphs: one env step's updates (M_step single-step and N_seq multi-step, Algorithm 1) captured once and
then replayed, so a GPU runs them without Python, dispatch or kernel-launch overhead per operation.

The updates are graph-safe by construction, which `NoHostSync` checks on any device, CPU included: fixed
shapes, random numbers from generators the graph registers, every value that changes between env steps (the
replay's sampling range, eq. 14's target entropy) in a device scalar updated in place, statistics summed into
persistent device buffers, and no host reads. One graph per actor horizon (the SAC-actor warm-up runs H = 0).
A checkpoint restore replaces the optimizers' state tensors, so it drops the graphs (`reset`).
"""
from collections.abc import Callable, Hashable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operators that read a device value on the host (.item(), bool(tensor)) or whose output shape depends on data
# (nonzero, masked_select): neither can run inside a captured graph.
HOST_SYNC_TAGS = (torch.Tag.data_dependent_output, torch.Tag.dynamic_output_shape)


class HostSyncError(RuntimeError):
    """An update read device data on the host: it could not be captured as a CUDA graph."""


class NoHostSync(TorchDispatchMode):
    """Within this mode, any operator that syncs with the host or has a data-dependent shape raises."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(tag in func.tags for tag in HOST_SYNC_TAGS) and not integer_indexing(func, args):
            raise HostSyncError(f"{func} reads device data on the host or has a data-dependent shape: it "
                                "cannot run inside a CUDA graph")
        return func(*args, **(kwargs or {}))


def integer_indexing(func, args) -> bool:
    """x[index] with integer index tensors: tagged dynamic because a boolean mask would be, but fixed-shape."""
    return func is torch.ops.aten.index.Tensor and all(
        i is None or not (i.dtype == torch.bool or i.dtype == torch.uint8) for i in args[1])


class CUDAGraphUpdates:
    """Runs `run_env_step_updates` (one env step's updates) eagerly for `warmup` calls per key, on a side stream as CUDA
    graph capture requires, then captures it once per key and replays the graph on every later call.

    `counts` is the Python side of the statistics (how many values each device sum holds): a replay runs no
    Python, so the counts one call adds are measured at capture and added on every replay.
    """

    def __init__(self, run_env_step_updates: Callable[[], None], counts: dict[str, int],
                 generators: list[torch.Generator], warmup: int = 3):
        self.run_env_step_updates, self.counts = run_env_step_updates, counts
        self.generators, self.warmup = generators, warmup
        self.graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, dict[str, int]]] = {}
        self.eager_calls: dict[Hashable, int] = {}

    def __call__(self, key: Hashable) -> None:
        if key not in self.graphs and self.eager_calls.get(key, 0) < self.warmup:
            self.eager_calls[key] = self.eager_calls.get(key, 0) + 1
            self._on_side_stream()
            return
        if key not in self.graphs:
            self.graphs[key] = self._capture()
        graph, added = self.graphs[key]
        graph.replay()
        for name, n in added.items():
            self.counts[name] = self.counts.get(name, 0) + n

    def reset(self) -> None:
        """Forget every graph (their tensors may no longer be the learner's); the next calls warm up again."""
        self.graphs, self.eager_calls = {}, {}

    def _on_side_stream(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.run_env_step_updates()
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, dict[str, int]]:
        """Record one call without running it; the counts it added are undone and returned."""
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        before = dict(self.counts)
        with torch.cuda.graph(graph):
            self.run_env_step_updates()
        added = {name: n - before.get(name, 0) for name, n in self.counts.items()}
        self.counts.clear()
        self.counts.update(before)
        return graph, added
