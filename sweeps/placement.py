"""GPU placement: each trial's learner on a fraction of one GPU, its env runners on CPUs.

How RLlib 2.60 places a trial: SAC-SVG runs one local learner (num_learners = 0) inside the trial's main
process, so Algorithm.default_resource_request puts `num_gpus_per_learner` GPUs into the main process's
bundle (rllib.algorithms.utils._get_main_process_bundle) and none into the env runners' bundles
(num_gpus_per_env_runner = 0). Ray then gives that process its GPU (CUDA_VISIBLE_DEVICES), and the
TorchLearner builds its networks and the replay buffer on it (rllib.utils.framework.get_device).

`--gpus-per-trial F` (make: GPUS_PER_TRIAL=F) sets the fraction for every trial; 0 keeps the learners on
CPUs. "auto", the paper budget's default, decides after Ray starts, from `ray.cluster_resources()`: no GPU
in the cluster -> 0; else the trials that can run at once (the CPUs' limit, `--max-concurrent` and the
number of trials) share the GPUs evenly, 1/k of a card each, so no GPU idles while trials wait and no trial
waits for a GPU while CPUs are free.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from algorithms.sac_svg.config import is_number

AUTO = "auto"
GPU_FIELD = "num_gpus_per_learner"
RAY_RESOURCE_UNITS = 10_000  # Ray counts fractional resources in units of 1/10,000


# RLlib's Ray-resource fields: amounts of CPUs/GPUs, fractional below 1, and the words RLlib allows instead
# of a number. RLlib's defaults (0, 1, "auto") cannot say so, hence this table (used by `--set`).
RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "num_cpus_for_main_process": (), "num_cpus_per_env_runner": (), "num_gpus_per_env_runner": (),
    "num_cpus_per_learner": ("auto",), "num_gpus_per_learner": (), "num_gpus": (),
    "num_cpus_per_offline_eval_runner": (), "num_gpus_per_offline_eval_runner": (),
}


def resource_error(name: str, value, words: tuple[str, ...] = ()) -> str | None:
    """A message if `value` is not a Ray resource amount: a number >= 0, a whole number above 1 (Ray
    shares one CPU or GPU in fractions, never more than one), or one of `words`."""
    if value in words:
        return None
    allowed = f"a number >= 0{''.join(f' or {w!r}' for w in words)}"
    if not is_number(value):
        return f"{name}={value!r}: expected {allowed}"
    if not value >= 0 or math.isinf(value):
        return f"{name}={value!r} must be a finite number >= 0"
    if value > 1 and value != int(value):
        return f"{name}={value!r}: Ray gives fractions only of a single resource; use a value <= 1 or a whole number"
    return None


class PlacementError(ValueError):
    pass


def parse_gpus_per_trial(text: str) -> float | str:
    """`--gpus-per-trial`: "auto", or a number in [0, 1] (the one learner uses one device)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise PlacementError(f"--gpus-per-trial {text}: expected {AUTO!r} or a fraction of one GPU in [0, 1] "
                             "(e.g. 0.25: four trials share a GPU; 0: learners on CPUs)")
    return int(value) if value.is_integer() else value


def auto_gpus_per_trial(cluster: dict[str, float], cpus_per_trial: float, num_trials: int,
                        max_concurrent: int | None) -> float:
    """The fraction of a GPU each trial's learner takes when the trials running at once share the cluster's
    GPUs evenly: 0 without GPUs, else 1/k of a card (k trials per GPU), in Ray's resource units."""
    gpus = int(cluster.get("GPU", 0))
    if gpus < 1:
        return 0
    by_cpus = int(cluster.get("CPU", 0) // cpus_per_trial) if cpus_per_trial else num_trials
    concurrent = max(1, min(num_trials, max_concurrent or num_trials, by_cpus))
    trials_per_gpu = math.ceil(concurrent / gpus)
    return math.floor(RAY_RESOURCE_UNITS / trials_per_gpu) / RAY_RESOURCE_UNITS


def cpus_per_trial(config: dict[str, Any]) -> float:
    """The CPUs one trial's placement group reserves, as RLlib computes it from the trial's config."""
    from algorithms.sac_svg import SACSVG

    return sum(bundle.get("CPU", 0) for bundle in SACSVG.default_resource_request(config).bundles)


def place_learners(param_space: dict[str, Any], requested: float | str, trials: list[dict[str, Any]],
                   max_concurrent: int | None) -> float:
    """After Ray starts: resolve "auto" into `param_space`'s num_gpus_per_learner, say where the learners
    run, and warn when GPUs are asked for but the cluster has none (the trials would wait for one)."""
    import ray

    cluster = ray.cluster_resources()
    if requested == AUTO:
        first_trial = {**param_space, **trials[0]}  # the trials' varied fields do not change resources
        param_space[GPU_FIELD] = auto_gpus_per_trial(cluster, cpus_per_trial(first_trial), len(trials),
                                                     max_concurrent)
    gpus = param_space[GPU_FIELD]
    if gpus and not cluster.get("GPU"):
        print(f"warning: each trial's learner asks for {gpus} GPU but the cluster has none: trials wait until a "
              "GPU node joins (pass --gpus-per-trial 0 to train on CPUs)", file=sys.stderr, flush=True)
    elif gpus:
        print(f"GPU placement: each trial's learner on {gpus:g} of a GPU ({cluster['GPU']:g} GPUs in the cluster"
              f"{', auto' if requested == AUTO else ''}); env runners on CPUs", flush=True)
    return gpus
