"""The run plan: every input validated and every trial's config built before Ray starts (`make_plan`), and
the experiment folder's `sweep.json` manifest, whose RESUME_KEYS decide whether a rerun resumes it."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import dataclass
from typing import Any

from algorithms.sac_svg.checkpoint import svglab_version
from sweeps import search_space as spaces
from sweeps.budgets import Budget, UnknownBudgetError, get_budget
from sweeps.experiment import OverrideError, build_config, parse_overrides, schedule_fields
from sweeps.placement import AUTO, GPU_FIELD, PlacementError, parse_gpus_per_trial
from sweeps.results import NoResultsError, best_schedule
from sweeps.storage import Location
from tasks import Task, UnknownScheduleError, UnknownTaskError, get_task

MODES = ("sweep", "reproduce", "train")
BASELINE_HORIZON = 0  # H = 0 is SAC

# Manifest fields that must match for a second run of a command to resume the same experiment.
RESUME_KEYS = ("task", "mode", "budget", "train_steps", "sweep_seed", "search_space", "overrides", "trials")


class SweepInputError(ValueError):
    pass


@dataclass
class Plan:
    """Everything a run needs, decided before Ray starts."""

    task: Task
    budget: Budget
    mode: str
    exp_dir: Location  # <results>/<Task>-<mode>-<budget>: a local folder or a URI (sweeps.storage)
    param_space: dict[str, Any]  # the shared config; the keys the trials vary are tune.choice domains
    trials: list[dict[str, Any]]  # each trial's varied config fields, in trial order
    manifest: dict[str, Any]
    gpus_per_trial: float | str = 0  # each learner's GPU, or "auto": decided after Ray starts (sweeps.placement)

    @property
    def steps_per_trial(self) -> int:
        return self.manifest["train_steps"]


def make_plan(args: argparse.Namespace) -> Plan:
    """Validate every input and build every trial's config; raises SweepInputError; writes nothing."""
    try:
        task = get_task(args.task)
        budget = get_budget(args.budget)
        overrides = parse_overrides(args.overrides)
        if args.official_defaults:  # the official code's values (docs/official-code.md), under any explicit --set
            from algorithms.sac_svg.config import SVGHyperparameters

            overrides = SVGHyperparameters.official_code_defaults() | overrides
        gpus_per_trial = _gpus_per_trial(args, budget, overrides)
    except (UnknownTaskError, UnknownBudgetError, OverrideError, PlacementError) as error:
        raise SweepInputError(str(error)) from error
    for flag, modes in _MODE_FLAGS.items():
        if getattr(args, flag) is not None and args.mode not in modes:
            raise SweepInputError(f"--{flag.replace('_', '-')} applies to {' and '.join(modes)}, not {args.mode}")
    if args.schedules and args.from_sweep:
        raise SweepInputError("--schedules and --from-sweep both choose the schedule: give one of them")
    for flag in ("num_samples", "num_seeds", "max_concurrent"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise SweepInputError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")

    space = None
    if args.mode == "sweep":
        space = _load_space(args.space)
        trials = _sample(space, args, budget, task)
    elif args.mode == "reproduce":
        schedule = _from_sweep(args.from_sweep) if args.from_sweep else _preset_schedule(task, args)
        swept_horizon = schedule.pop("horizon", None)  # the best group's H (an H = 0 group: the default H)
        horizon = overrides.pop("horizon", swept_horizon or build_config(task, budget).horizon)
        first_seed = 1 if args.seed is None else args.seed
        seeds = range(first_seed, first_seed + _num_seeds(args, budget))
        trials = [{**schedule, "horizon": h, "seed": s} for h in (horizon, BASELINE_HORIZON) for s in seeds]
    else:
        trials = [{**_preset_schedule(task, args), "seed": 1 if args.seed is None else args.seed}]

    # Per-trial fields cannot also be --set; outside a sweep, --set target_entropy_*=... edits the schedule.
    varied = {key for trial in trials for key in trial}
    editable = set(spaces.TARGET_ENTROPY_KEYS) if args.mode != "sweep" else set()
    clash = sorted(set(overrides) & varied - editable)
    if clash:
        raise SweepInputError(f"--set {', '.join(clash)}: set per trial by the {args.mode}; drop the --set "
                              "(use --seed for seeds, or a search space file to search other values)")
    trials = [{**trial, **{k: v for k, v in overrides.items() if k in trial}} for trial in trials]
    overrides = {k: v for k, v in overrides.items() if k not in varied}

    base = _validated_configs(task, budget, overrides, trials)
    exp_dir = _results(args.results) / f"{task.name}-{args.mode}-{budget.name}"
    manifest = _manifest(task, budget, args, space, overrides, trials, base)
    return Plan(task, budget, args.mode, exp_dir, _param_space(base, trials), trials, manifest, gpus_per_trial)


def _gpus_per_trial(args, budget: Budget, overrides: dict[str, Any]) -> float | str:
    """`--gpus-per-trial`, else `--set num_gpus_per_learner`, else the budget's; a number goes to `overrides`."""
    if args.gpus_per_trial is None:
        requested = overrides.get(GPU_FIELD, budget.gpus_per_trial)
    elif GPU_FIELD in overrides:
        raise PlacementError(f"--gpus-per-trial and --set {GPU_FIELD} set the same thing: give one of them")
    else:
        requested = parse_gpus_per_trial(args.gpus_per_trial)
    if requested != AUTO and requested:
        overrides[GPU_FIELD] = requested
    return requested


def _results(where: str) -> Location:
    """The results storage (a folder or a URI), reachable: an unknown scheme or an unreachable bucket fails here."""
    try:
        return Location.of(where)
    except (OSError, ValueError) as error:
        raise SweepInputError(f"--results {where}: {error}") from error


def _from_sweep(sweep_dir: str) -> dict[str, Any]:
    """The sweep's best group (sweeps.results.best_group, Table 4's rule): its schedule and horizon."""
    try:
        where = Location.of(sweep_dir)
        if not where.is_dir():
            raise NoResultsError(f"{where}: no such folder")
        return best_schedule(where)
    except (NoResultsError, OSError) as error:
        raise SweepInputError(f"--from-sweep {error}") from error


def _preset_schedule(task: Task, args) -> dict[str, Any]:
    """`--schedules table4|official` (make: SCHEDULES=): the task's schedule from that preset."""
    try:
        return schedule_fields(task.schedule_for(args.schedules or "table4"))
    except UnknownScheduleError as error:
        raise SweepInputError(str(error)) from error


# Flags that only some modes use: given to another mode they would be silently ignored.
_MODE_FLAGS = {"num_samples": ("sweep",), "num_seeds": ("sweep", "reproduce"), "from_sweep": ("reproduce",),
               "schedules": ("reproduce", "train")}


def _num_seeds(args, budget: Budget) -> int:
    """Seeds per schedule: `--num-seeds` (`make ... SEEDS=N`), else the budget's."""
    return args.num_seeds or budget.num_seeds


def _load_space(spec: str) -> dict[str, Any]:
    try:
        space = spaces.load_space(spec)
    except spaces.SearchSpaceError as error:
        raise SweepInputError(str(error)) from error
    from sweeps.experiment import config_fields

    unknown = [key for key in space["params"] if key not in config_fields()]
    if unknown:
        raise SweepInputError(f"search space {spec}: params {unknown} are not algorithm config fields")
    return space


def _sample(space, args, budget: Budget, task: Task) -> list[dict[str, Any]]:
    try:
        return spaces.sample_configs(space, _sweep_seed(args), args.num_samples or budget.num_samples,
                                     max_seeds=_num_seeds(args, budget), suite=task.suite)
    except spaces.SearchSpaceError as error:
        raise SweepInputError(str(error)) from error


def _sweep_seed(args) -> int:
    return 0 if args.seed is None else args.seed


def _validated_configs(task, budget, overrides, trials) -> dict[str, Any]:
    """Build and validate every trial's config (so a bad value fails now); return the first as a dict."""
    configs = []
    for trial in trials:
        schedule = {k: v for k, v in trial.items() if k != "seed"}
        config = build_config(task, budget, overrides, seed=trial["seed"], schedule=schedule)
        try:
            config.validate()
        except ValueError as error:
            raise SweepInputError(f"trial {trial}: {error}") from error
        configs.append(config)
    return configs[0].to_dict()


def _param_space(base: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The shared config with each varied key as a categorical over its values: Tune then records the
    trials' values as their resolved parameters (names, TensorBoard hparams), and the fixed list of trials
    goes in as `points_to_evaluate`."""
    from ray import tune

    space = dict(base)
    for key in trials[0]:
        values = list(dict.fromkeys(trial[key] for trial in trials))
        space[key] = tune.choice(values)
    return space


def _manifest(task, budget, args, space, overrides, trials, base) -> dict[str, Any]:
    return {
        "task": task.name,
        "suite": task.suite,
        "mode": args.mode,
        "budget": budget.name,
        "train_steps": base["total_env_steps"],
        "eval_interval": base["eval_interval_steps"],
        "num_samples": len(trials) if space is None else len({_config_key(t) for t in trials}),
        "seeds": sorted({trial["seed"] for trial in trials}),
        "sweep_seed": _sweep_seed(args) if args.mode == "sweep" else None,
        "search_space": space or {},
        "overrides": overrides,
        "horizon": base["horizon"],
        "from_sweep": str(args.from_sweep) if args.from_sweep else None,
        "trials": trials,
        "command": " ".join(["python -m sweeps.sweep", *sys.argv[1:]]),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "svglab_version": svglab_version(),
    }


def _config_key(trial: dict[str, Any]) -> tuple:
    return tuple(sorted((k, v) for k, v in trial.items() if k != "seed"))


def write_manifest(plan: Plan) -> None:
    """Write sweep.json, or check that an existing one came from the same command (resume)."""
    path = plan.exp_dir / "sweep.json"
    new = json.loads(json.dumps(plan.manifest))
    if path.exists():
        old = json.loads(path.read_text())
        differs = [key for key in RESUME_KEYS if old.get(key) != new.get(key)]
        if differs:
            raise SweepInputError(
                f"{plan.exp_dir} holds an experiment from a different command (differs in: "
                f"{', '.join(differs)}). Rerun the same command to resume it, or pick another --results."
            )
        return
    plan.exp_dir.mkdir()
    path.write_text(json.dumps(new, indent=2) + "\n")
