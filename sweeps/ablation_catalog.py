"""The paper's ablations (`make ablation NAME=...`) as data: their arms, and their budgets.

- `critic-mve` (fig. 4 and 6): {SAC actor (H = 0), SVG(H) actor} x {model-free critic (eq. 5, `critic_mve=none`),
  MVE critic (Feinberg et al.'s update, `critic_mve=full`)}, every arm with the task's Table 4 schedule and the
  same seeds; one Tune trial per arm and seed.
- `model` (fig. 3): a model-free SAC run (H = 0) gives episodes in their temporal order; a 5-member MLP
  ensemble (one-step transitions) and the GRU (multi-step sequences) are fit on them chunk by chunk and
  scored on held-out episodes (sweeps/model_ablation.py).

A budget here is the ordinary budget (sweeps/budgets.py: networks, batches, checkpoints) with the ablation's
own length and seeds, plus, for `model`, the fitting protocol's sizes (`ModelFit`).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from sweeps.budgets import BUDGETS, Budget, UnknownBudgetError, get_budget
from sweeps.layout import ABLATION, experiment_dirname

SVG_HORIZON = 2  # the SVG(H) actor's H in fig. 4 (section 5: every experiment uses H = 2)


@dataclass(frozen=True)
class Arm:
    """One arm of an ablation: its key on the command line (make: ARMS=), its label in the plots and tables, and
    the config fields that make it."""

    key: str
    name: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class ModelFit:
    """Fig. 3's protocol sizes: the episodes held out for the test split, how the others are added, how long
    the models train after each chunk, and how far they are unrolled when scored."""

    test_fraction: float  # of all episodes, chosen once (seeded) across the whole run: the stationary test split
    holdout_every: int  # of each chunk's episodes, every this-many-th one goes to the holdout split
    num_chunks: int  # the training episodes arrive in this many chunks, in their temporal order
    updates_per_chunk: int  # dynamics updates of each model after each chunk
    unroll_steps: int  # model steps scored (the multi-step error per unroll step 1..unroll_steps)
    max_score_sequences: int  # sequences scored per split (all when fewer), drawn once with a fixed seed


@dataclass(frozen=True)
class AblationBudget:
    budget: Budget  # the ordinary budget with the ablation's length (train_steps) and seeds (num_seeds)
    fit: ModelFit | None = None  # `model` only


@dataclass(frozen=True)
class Ablation:
    name: str
    figure: str
    description: str
    arms: tuple[Arm, ...]
    budgets: dict[str, AblationBudget]


def _derived(name: str, **changes) -> Budget:
    return dataclasses.replace(BUDGETS[name], **changes)


def _training(budget: Budget, **fields) -> dict[str, dict[str, Any]]:
    """The budget's RLlib settings with some `training()` fields changed."""
    return {**budget.rllib, "training": {**budget.rllib["training"], **fields}}


# Both MVE arms expand the critic H = 2 model steps; the SAC-actor arm needs it said (its actor's H is 0).
CRITIC_MVE_ARMS = (
    Arm(key="sac", name="SAC actor, model-free critic",
        fields={"horizon": 0, "critic_mve": "none", "critic_horizon": SVG_HORIZON}),
    Arm(key="sac-mve", name="SAC actor, MVE critic",
        fields={"horizon": 0, "critic_mve": "full", "critic_horizon": SVG_HORIZON}),
    Arm(key="svg", name="SVG(2) actor, model-free critic",
        fields={"horizon": SVG_HORIZON, "critic_mve": "none", "critic_horizon": SVG_HORIZON}),
    Arm(key="svg-mve", name="SVG(2) actor, MVE critic",
        fields={"horizon": SVG_HORIZON, "critic_mve": "full", "critic_horizon": SVG_HORIZON}),
)

CRITIC_MVE = Ablation(
    name="critic-mve",
    figure="fig. 4 and 6",
    description="{SAC actor, SVG(2) actor} x {model-free critic, MVE critic}: 4 arms, the same seeds in each",
    arms=CRITIC_MVE_ARMS,
    budgets={
        # The paper's runs: the task's length (Walker2d 2M env steps), 10 seeds per arm.
        "paper": AblationBudget(_derived("paper", num_seeds=10)),
        "short": AblationBudget(_derived("short", num_seeds=3)),
        # 4 arms x 2 seeds x 750 env steps, evaluated every 250: the SVG(2) actor and the MVE critic start after a
        # 250-step SAC-actor warm-up, so every arm's own update runs for the last 500 steps.
        "smoke": AblationBudget(_derived("smoke", num_seeds=2, train_steps=750, eval_interval=250,
                                         rllib=_training(BUDGETS["smoke"], actor_warmup_steps=250))),
    },
)

MODEL = Ablation(
    name="model",
    figure="fig. 3",
    description="a 5-member MLP ensemble (one-step) against the GRU (multi-step) on a SAC run's episodes",
    arms=(Arm(key="sac", name="SAC run (model-free, H = 0)", fields={"horizon": 0, "critic_mve": "none"}),),
    budgets={
        # The paper does not give its fig. 3 protocol sizes; these are ours, with Table 3's network sizes.
        "paper": AblationBudget(_derived("paper", num_seeds=1),
                                ModelFit(test_fraction=0.1, holdout_every=5, num_chunks=20, updates_per_chunk=5_000,
                                         unroll_steps=10, max_score_sequences=4_096)),
        "short": AblationBudget(_derived("short", num_seeds=1),
                                ModelFit(test_fraction=0.1, holdout_every=5, num_chunks=10, updates_per_chunk=1_000,
                                         unroll_steps=5, max_score_sequences=2_048)),
        "smoke": AblationBudget(_derived("smoke", num_seeds=1),
                                ModelFit(test_fraction=0.2, holdout_every=3, num_chunks=3, updates_per_chunk=20,
                                         unroll_steps=3, max_score_sequences=256)),
    },
)

ABLATIONS: dict[str, Ablation] = {a.name: a for a in (CRITIC_MVE, MODEL)}


class UnknownAblationError(ValueError):
    pass


class UnknownArmError(ValueError):
    pass


def get_ablation(name: str | None) -> Ablation:
    """The ablation called `name`; UnknownAblationError listing the names otherwise."""
    ablation = ABLATIONS.get((name or "").lower())
    if ablation is None:
        listing = "; ".join(f"{a.name} ({a.figure}: {a.description})" for a in ABLATIONS.values())
        if not name:
            raise UnknownAblationError(f"no ablation named: give NAME= one of: {listing}")
        close = difflib.get_close_matches(name.lower(), list(ABLATIONS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownAblationError(f"Unknown ablation {name!r}.{hint} Ablations: {listing}")
    return ablation


def with_arms(ablation: Ablation, keys: str | list[str] | None) -> Ablation:
    """The ablation restricted to the arms `keys` names (a list, or one string separated by commas or spaces, as
    make's ARMS= gives it), in the catalog's order; all of its arms for None. UnknownArmError lists the keys."""
    if keys is None:
        return ablation
    listing = ", ".join(f"{arm.key} ({arm.name})" for arm in ablation.arms)
    if not (isinstance(keys, str) or isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise UnknownArmError(f"arms of ablation {ablation.name}: {keys!r} is not a list of arm keys ({listing})")
    wanted = [k for k in (keys.replace(",", " ").split() if isinstance(keys, str) else keys) if k]
    known = {arm.key: arm for arm in ablation.arms}
    unknown = [k for k in wanted if k not in known]
    if unknown or not wanted:
        what = f"unknown arm {unknown[0]!r}" if unknown else "no arm named"
        raise UnknownArmError(f"ARMS= (--arms) of ablation {ablation.name}: {what}; give some of: {listing}")
    return dataclasses.replace(ablation, arms=tuple(arm for arm in ablation.arms if arm.key in wanted))


def ablation_budget(ablation: Ablation, name: str) -> AblationBudget:
    """The ablation's budget `name` (paper, short, smoke); UnknownBudgetError listing them otherwise."""
    get_budget(name)  # the same message as every command for a misspelled budget
    if name.lower() not in ablation.budgets:
        raise UnknownBudgetError(f"ablation {ablation.name} has no budget {name!r}: "
                                 f"choose one of {', '.join(ablation.budgets)}")
    return ablation.budgets[name.lower()]


def ablation_dirname(task: str, ablation: Ablation, budget: Budget) -> str:
    """The experiment folder under RESULTS: <Task>-ablation-<name>-<budget>."""
    return experiment_dirname(task, ABLATION, budget.name, ablation.name)


def arm_of(config: dict[str, Any], ablation: Ablation) -> str | None:
    """The arm whose fields a trial's config (params.json) holds; None when it is none of them."""
    for arm in ablation.arms:
        if all(_same(config.get(key), value) for key, value in arm.fields.items()):
            return arm.name
    return None


def _same(a, b) -> bool:
    return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b))
