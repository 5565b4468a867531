"""Memory, decided before Ray starts: what one trial's learner holds, and whether the trials that run at once
fit this machine.

A trial's learner holds, on its device (the CPU's memory, or its share of a GPU):
- the replay buffer, allocated whole when the trial starts: replay_capacity x the bytes of one transition,
  one row of every TransitionReplay column at its dtype (x, u, r, x', terminated, episode, t, next slot);
- Algorithm 1's networks (actor, double Q critic and its target, temperature, world model) with their
  gradients and Adam's two moments: 4 copies of each trained parameter, 1 of the rest.

A local run checks this against the machine: the trials that run at once (by its CPUs, `--max-concurrent`
and the number of trials) against its memory (the container's limit where there is one), or, with learners
on GPUs, each trial against its share of the smallest card. With RAY_ADDRESS the trials run on other
machines: the run prints what one trial needs and leaves the fit to the cluster.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from sweeps.placement import AUTO, auto_gpus_per_trial, concurrent_trials, cpus_per_trial

GIB = 2**30
COPIES_PER_TRAINED_PARAMETER = 4  # weights, gradients and Adam's two moments


class MemoryFitError(ValueError):
    pass


@dataclass(frozen=True)
class TrialMemory:
    """What one trial's learner holds on its device, in bytes."""

    replay_capacity: int
    transition_bytes: int
    network_bytes: int

    @property
    def replay_bytes(self) -> int:
        return self.replay_capacity * self.transition_bytes

    @property
    def total(self) -> int:
        return self.replay_bytes + self.network_bytes

    def __str__(self) -> str:
        return (f"{self.total / GIB:.2f} GiB: replay {self.replay_bytes / GIB:.2f} GiB (replay_capacity "
                f"{self.replay_capacity:,} x {self.transition_bytes} bytes per transition) + networks "
                f"{self.network_bytes / GIB:.2f} GiB (weights, gradients, Adam's moments)")


@dataclass(frozen=True)
class Machine:
    """What a local run has: CPUs, memory and each GPU's memory, in bytes."""

    cpus: float
    memory: int
    gpu_memory: list[int] = field(default_factory=list)


def this_machine() -> Machine:
    """This machine as a local Ray sees it (cgroup limits included), GPUs read through NVML: the driver
    creates no CUDA context."""
    from ray._common.utils import get_system_memory
    from ray._private.utils import get_num_cpus

    return Machine(cpus=get_num_cpus(), memory=get_system_memory(), gpu_memory=_gpu_memory())


def _gpu_memory() -> list[int]:
    import ray._private.thirdparty.pynvml as nvml

    try:
        nvml.nvmlInit()
    except nvml.NVMLError:
        return []
    try:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = range(nvml.nvmlDeviceGetCount()) if visible is None else [int(i) for i in visible.split(",") if i]
        return [nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(i)).total for i in indices]
    finally:
        nvml.nvmlShutdown()


def transition_bytes(obs_dim: int, act_dim: int) -> int:
    """The bytes of one transition in the replay: one row of each of its columns, at the column's dtype."""
    from algorithms.sac_svg.replay import TransitionReplay

    replay = TransitionReplay(capacity=1, obs_dim=obs_dim, act_dim=act_dim, device="cpu", seed=0)
    return sum(column.nbytes for column in replay.data.values())


def network_bytes(task, config) -> int:
    """The learner's networks with gradients and Adam's moments, counted on PyTorch's meta device (no memory)."""
    import gymnasium as gym
    import torch

    from algorithms.sac_svg.rl_module import SACSVGModule

    observations = gym.spaces.Box(-np.inf, np.inf, (task.obs_dim,), np.float32)
    actions = gym.spaces.Box(-1.0, 1.0, (task.act_dim,), np.float32)
    with torch.device("meta"), _quiet("ray._common.deprecation"):
        module = SACSVGModule(observation_space=observations, action_space=actions,
                              model_config=config.model_config, inference_only=False)
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() * (COPIES_PER_TRAINED_PARAMETER if t.requires_grad else 1)
               for t in tensors)


@contextlib.contextmanager
def _quiet(name: str):
    """RLlib's deprecation notice for every module it builds, here a module that is only counted."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def trial_memory(task, config) -> TrialMemory:
    return TrialMemory(replay_capacity=config.replay_capacity,
                       transition_bytes=transition_bytes(task.obs_dim, task.act_dim),
                       network_bytes=network_bytes(task, config))


def check_fits(task, configs: list, gpus_per_trial: float | str, max_concurrent: int | None,
               machine: Machine | None = None) -> TrialMemory:
    """The largest trial's memory; MemoryFitError when the trials that run at once on this machine do not fit."""
    need = max((trial_memory(task, config) for config in configs), key=lambda m: m.total)
    if os.environ.get("RAY_ADDRESS"):
        return need
    machine = machine or this_machine()
    resources = {"CPU": machine.cpus, "GPU": len(machine.gpu_memory)}
    cpus = cpus_per_trial(configs[0].to_dict())
    at_once = concurrent_trials(resources, cpus, len(configs), max_concurrent)
    share = auto_gpus_per_trial(resources, cpus, len(configs), max_concurrent) if gpus_per_trial == AUTO \
        else gpus_per_trial
    if share and machine.gpu_memory:
        _check_gpu_share(need, share, min(machine.gpu_memory))
    elif not share:
        _check_host(need, at_once, machine.memory)
    return need


def _check_gpu_share(need: TrialMemory, share: float, card: int) -> None:
    have = share * card
    if need.total > have:
        raise MemoryFitError(
            f"a trial does not fit its GPU share: its learner holds {need}; {share:g} of a {card / GIB:.1f} GiB "
            f"GPU is {have / GIB:.2f} GiB. Lower replay_capacity (--set replay_capacity="
            f"{_capacity_that_fits(need, have):,} fits), or give each trial more of a GPU "
            f"({_share_that_fits(need, card)}).")


def _check_host(need: TrialMemory, at_once: int, memory: int) -> None:
    if at_once * need.total <= memory:
        return
    fewer = memory // need.total
    raise MemoryFitError(
        f"the trials do not fit this machine's memory: each trial's learner holds {need}; {at_once} trial(s) "
        f"run at once: {at_once * need.total / GIB:.2f} GiB, and this machine has {memory / GIB:.2f} GiB. "
        + (f"Run fewer at once (--max-concurrent {fewer}), or lower" if fewer else "Lower")
        + f" replay_capacity (--set replay_capacity={_capacity_that_fits(need, memory / at_once):,} fits "
        f"{at_once} at once), or run on a machine or cluster with more memory (RAY_ADDRESS).")


def _capacity_that_fits(need: TrialMemory, have: float) -> int:
    return max(0, int((have - need.network_bytes) // need.transition_bytes))


def _share_that_fits(need: TrialMemory, card: int) -> str:
    share = math.ceil(need.total / card * 100) / 100
    if share > 1:
        return "one trial needs more than a whole card: use a card with more memory"
    return f"--gpus-per-trial {share:g} or more, make: GPUS_PER_TRIAL={share:g}"
