"""Compute budgets (`BUDGET=paper|short|smoke`) as data.

A budget says how many trials a sweep runs, how long each trains and how big its networks are. `rllib`
holds AlgorithmConfig method -> keyword arguments, applied on top of the algorithm's defaults (which are
Table 3's values), so the paper budget only adds what Table 3 does not fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The "small" networks: the smoke budget's, the benchmarks' small size and the tests'.
SMALL_NETWORKS = {"hidden_dim": 64, "model_hidden_dim": 64, "gru_hidden_dim": 64}


@dataclass(frozen=True)
class Budget:
    name: str
    description: str
    num_samples: int | None  # configurations drawn from the search space (None: the space's own, A.2: 20)
    num_seeds: int  # reproduce mode: seeds per schedule (Table 2: 10); also caps a space's seed list
    train_steps: int | None  # env steps per trial, at most the task's training length (None: that length)
    eval_interval: int | None  # env steps between evaluations (None: the task's interval)
    max_concurrent_trials: int | None  # None: as many trials at once as the cluster's resources allow
    max_failures: int  # retries of a failed trial (from its last checkpoint)
    checkpoint_every: int  # training iterations between checkpoints
    checkpoint_every_s: float | None  # and at most this many seconds of training between them (None: off)
    keep_checkpoints: int  # checkpoints kept per trial
    # GPU per trial's learner: a fraction of one, or "auto" (decided from the cluster, sweeps.placement)
    gpus_per_trial: float | str = 0
    rllib: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # AlgorithmConfig method -> kwargs


PAPER = Budget(
    name="paper",
    description="The paper's lengths and Table 3's sizes: 20 samples, the task's training length.",
    num_samples=None,
    num_seeds=10,
    train_steps=None,
    eval_interval=None,
    max_concurrent_trials=None,
    max_failures=3,
    checkpoint_every=10,  # 10 iterations of 1,000 env steps
    checkpoint_every_s=900,  # a fault costs at most 15 minutes (docs/sweeps.md: reliability)
    keep_checkpoints=1,  # a paper-size checkpoint holds the replay buffer (hundreds of MB)
    gpus_per_trial="auto",  # the cluster's GPUs shared by the trials' learners; none: all on CPUs
    rllib={
        "training": {"report_interval_steps": 1_000, "eval_episodes": 10},
        "env_runners": {"num_env_runners": 1},
    },
)

SHORT = Budget(
    name="short",
    description="Learning on a workstation: Table 3's structure at 128 units, batches 256/256, "
                "at most 25k env steps per trial, two trials at a time on 2 CPU cores.",
    num_samples=None,
    num_seeds=10,
    train_steps=25_000,
    eval_interval=2_500,  # a divisor of the length, so the last evaluation is at 25k
    max_concurrent_trials=2,
    max_failures=2,
    checkpoint_every=10,  # every 5k env steps
    checkpoint_every_s=600,
    keep_checkpoints=1,
    rllib={
        "training": {
            "report_interval_steps": 500,
            "eval_episodes": 5,
            # The paper's 10k-step SAC-actor warm-up is 5% of a 200k POPLIN run and 1% of an MBPO one;
            # 2.5k keeps a 25k run's warm-up at 10%, between the two.
            "actor_warmup_steps": 2_500,
            "hidden_dim": 128,
            "model_hidden_dim": 128,
            "gru_hidden_dim": 128,
            "batch_size": 256,
            "seq_batch_size": 256,
            # At these sizes one compiled graph per env step is faster than the eager updates; its compile time
            # and speed-up are in docs/performance.md. Later trials on the machine reuse inductor's cache.
            "compile_updates": True,
        },
        # Each trial reserves one CPU in all (its learner then uses one thread): two trials fill 2 cores.
        "env_runners": {"num_env_runners": 1, "num_cpus_per_env_runner": 0.5},
        "resources": {"num_cpus_for_main_process": 0.5},
        "learners": {"num_cpus_per_learner": 0.5},
    },
)

SMOKE = Budget(
    name="smoke",
    description="Every stage in minutes on 2 CPU cores: 2 samples x 1,500 env steps, 64-unit networks.",
    num_samples=2,
    num_seeds=2,
    train_steps=1_500,
    eval_interval=750,
    max_concurrent_trials=2,
    max_failures=1,
    checkpoint_every=1,
    checkpoint_every_s=None,  # every iteration already
    keep_checkpoints=2,
    rllib={
        "training": {
            "report_interval_steps": 250,
            "eval_episodes": 1,
            "num_random_steps": 200,
            "actor_warmup_steps": 500,
            **SMALL_NETWORKS,
            "batch_size": 64,
            "seq_batch_size": 32,
            "num_seq_updates": 1,
            "replay_capacity": 10_000,
        },
        "env_runners": {"num_env_runners": 1, "num_cpus_per_env_runner": 0.5},
        # Two trials share 2 cores: each asks Ray for half a CPU per process (the learner runs in the
        # trial's main process).
        "resources": {"num_cpus_for_main_process": 0.5},
        "learners": {"num_cpus_per_learner": 0.5},
    },
)

BUDGETS: dict[str, Budget] = {budget.name: budget for budget in (PAPER, SHORT, SMOKE)}


class UnknownBudgetError(ValueError):
    pass


def get_budget(name: str) -> Budget:
    budget = BUDGETS.get(name.lower())
    if budget is None:
        closest = difflib.get_close_matches(name.lower(), list(BUDGETS), n=1)
        hint = f" Did you mean {closest[0]!r}?" if closest else ""
        raise UnknownBudgetError(f"Unknown budget {name!r}.{hint} Valid budgets: {', '.join(BUDGETS)}.")
    return budget
