"""The run plan: every input validated and every trial's config built before Ray starts (`make_plan`), and
the experiment folder's `sweep.json` manifest, whose RESUME_KEYS decide whether a rerun resumes it."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from dataclasses import dataclass
from typing import Any

from algorithms.sac_svg.checkpoint import svglab_version
from algorithms.sac_svg.config import SVG_FIELDS
from sweeps import search_space as spaces
from sweeps.ablation_catalog import (
    Ablation,
    ModelFit,
    UnknownAblationError,
    UnknownArmError,
    ablation_budget,
    ablation_dirname,
    get_ablation,
    with_arms,
)
from sweeps.budgets import Budget, UnknownBudgetError, get_budget
from sweeps.experiment import OverrideError, build_config, parse_overrides, schedule_fields
from sweeps.layout import ABLATION, REPRODUCE, SWEEP, SWEEP_FILE, TRAIN, experiment_dirname
from sweeps.memory_fit import MemoryFitError, TrialMemory, check_fits
from sweeps.placement import AUTO, GPU_FIELD, PlacementError, parse_gpus_per_trial
from sweeps.results import NoResultsError, best_schedule
from sweeps.storage import Location, without_credentials
from tasks import Task, UnknownScheduleError, UnknownTaskError, get_task

BASELINE_HORIZON = 0  # H = 0 is SAC

# Manifest fields that must match for a second run of a command to resume the same experiment.
RESUME_KEYS = ("task", "mode", "budget", "train_steps", "sweep_seed", "search_space", "overrides", "trials",
               "ablation", "from_trial", "model_fit")


class SweepInputError(ValueError):
    pass


@dataclass
class Plan:
    """Everything a run needs, decided before Ray starts."""

    task: Task
    budget: Budget
    mode: str
    exp_dir: Location  # <results>/<task file name>-<mode>-<budget>: a local folder or a URI (sweeps.storage)
    param_space: dict[str, Any]  # the shared config; the keys the trials vary are tune.choice domains
    trials: list[dict[str, Any]]  # each trial's varied config fields, in trial order
    manifest: dict[str, Any]
    gpus_per_trial: float | str = 0  # each learner's GPU, or "auto": decided after Ray starts (sweeps.placement)
    ablation: Ablation | None = None  # mode "ablation": which one (sweeps.ablation_catalog)
    model_fit: ModelFit | None = None  # the model ablation's fitting protocol
    from_trial: Location | None = None  # the model ablation's source trial when given (FROM=): no Tune run
    base_config: dict[str, Any] | None = None  # the shared config (every trial's, before its own fields)
    memory: TrialMemory | None = None  # what the largest trial's learner holds (sweeps.memory_fit)

    @property
    def steps_per_trial(self) -> int:
        return self.manifest["train_steps"]


def make_plan(args: argparse.Namespace) -> Plan:
    """Validate every input and build every trial's config; raises SweepInputError; writes nothing."""
    try:
        task = get_task(args.task)
        ablation = with_arms(get_ablation(args.ablation), args.arms) if args.mode == ABLATION else None
        chosen = ablation_budget(ablation, args.budget) if ablation else None
        budget, fit = (chosen.budget, chosen.fit) if chosen else (get_budget(args.budget), None)
        overrides = parse_overrides(args.overrides)
        if args.official_defaults:  # the official code's values (docs/official-code.md), under any explicit --set
            from algorithms.sac_svg.config import SVGHyperparameters

            overrides = SVGHyperparameters.official_code_defaults() | overrides
        gpus_per_trial = _gpus_per_trial(args, budget, overrides)
    except (UnknownTaskError, UnknownBudgetError, UnknownAblationError, UnknownArmError, OverrideError,
            PlacementError) as error:
        raise SweepInputError(str(error)) from error
    for flag, modes in _MODE_FLAGS.items():
        if getattr(args, flag) is not None and args.mode not in modes:
            listed = " and ".join([", ".join(modes[:-1]), modes[-1]] if len(modes) > 1 else modes)
            raise SweepInputError(f"--{flag.replace('_', '-')} applies to {listed}, not {args.mode}")
    if args.schedules and args.from_sweep:
        raise SweepInputError("--schedules and --from-sweep both choose the schedule: give one of them")
    for flag in ("num_samples", "num_seeds", "max_concurrent"):
        if getattr(args, flag) is not None and not 1 <= getattr(args, flag) <= spaces.MAX_TRIALS:
            raise SweepInputError(f"--{flag.replace('_', '-')} must be from 1 to {spaces.MAX_TRIALS:,}, got "
                                  f"{getattr(args, flag)}")
    if args.seed is not None and not 0 <= args.seed <= spaces.MAX_SEED:
        raise SweepInputError(f"--seed {args.seed}: give a seed from 0 to {spaces.MAX_SEED:,} (numpy's and "
                              "gymnasium's seeding take 32 bits; each env runner adds its index)")

    space = None
    if args.mode == SWEEP:
        space = _load_space(args.space)
        trials = _sample(space, args, budget, task)
    elif args.mode == REPRODUCE:
        schedule = _from_sweep(args.from_sweep) if args.from_sweep else _preset_schedule(task, args)
        swept_horizon = schedule.pop("horizon", None)  # the best group's H (an H = 0 group: the default H)
        horizon = overrides.pop("horizon", swept_horizon or build_config(task, budget).horizon)
        first_seed = 1 if args.seed is None else args.seed
        seeds = range(first_seed, first_seed + _num_seeds(args, budget))
        trials = [{**schedule, "horizon": h, "seed": s} for h in (horizon, BASELINE_HORIZON) for s in seeds]
    elif args.mode == ABLATION:
        if fit is not None and args.num_seeds is not None:
            raise SweepInputError("the model ablation fits its models on one SAC run: drop SEEDS= (--num-seeds); "
                                  "--seed picks that run's seed")
        if fit is not None and args.arms is not None:
            raise SweepInputError("the model ablation has one arm, its SAC run: drop ARMS= (--arms)")
        first_seed = 1 if args.seed is None else args.seed
        seeds = range(first_seed, first_seed + _num_seeds(args, budget))
        schedule = _preset_schedule(task, args)
        trials = [{**schedule, **arm.fields, "seed": s} for arm in ablation.arms for s in seeds]
    else:
        trials = [{**_preset_schedule(task, args), "seed": 1 if args.seed is None else args.seed}]

    _check_trials(trials)
    # Per-trial fields cannot also be --set; outside a sweep, --set target_entropy_*=... edits the schedule.
    varied = {key for trial in trials for key in trial}
    editable = set(spaces.TARGET_ENTROPY_KEYS) if args.mode != SWEEP else set()
    clash = sorted(set(overrides) & varied - editable)
    if clash:
        raise SweepInputError(f"--set {', '.join(clash)}: set per trial by the {args.mode}; drop the --set "
                              "(use --seed for seeds, or a search space file to search other values)")
    trials = [{**trial, **{k: v for k, v in overrides.items() if k in trial}} for trial in trials]
    overrides = {k: v for k, v in overrides.items() if k not in varied}
    if fit is not None:  # fig. 3 needs every episode of the SAC run, from the first: its replay keeps them all
        run = build_config(task, budget, overrides)  # (an iteration may end a few env steps past the length)
        overrides.setdefault("replay_capacity", run.total_env_steps + run.report_interval_steps)

    configs = _validated_configs(task, budget, overrides, trials)
    try:
        memory = check_fits(task, configs, gpus_per_trial, args.max_concurrent or budget.max_concurrent_trials)
    except MemoryFitError as error:
        raise SweepInputError(f"{error} Nothing was written.") from None
    base = configs[0].to_dict()
    source = _source_trial(ablation, fit, args, task)
    if source is not None:
        trials = []  # the episodes come from the given trial: nothing to train
    name = (ablation_dirname(task.file_name, ablation, budget) if ablation
            else experiment_dirname(task.file_name, args.mode, budget.name))
    exp_dir = _results(args.results) / name
    if fit is not None and exp_dir.local is None:
        raise SweepInputError(f"--results {args.results}: the model ablation fits its models in this process, on "
                              "a local folder: give a local RESULTS")
    manifest = _manifest(task, budget, args, space, overrides, trials, base) | {
        "ablation": ablation.name if ablation else None, "from_trial": str(source) if source else None,
        "arms": [arm.key for arm in ablation.arms] if ablation else None,
        "model_fit": dataclasses.asdict(fit) if fit else None}
    return Plan(task, budget, args.mode, exp_dir, _param_space(base, trials) if trials else base, trials, manifest,
                gpus_per_trial, ablation, fit, source, base, memory)


def _source_trial(ablation: Ablation | None, fit: ModelFit | None, args, task: Task) -> Location | None:
    """The model ablation's source trial (`--from-trial`, make: FROM=), checked: a trial folder of this task whose
    latest checkpoint holds its replay buffer. None: the ablation trains its own SAC run."""
    if args.from_trial is None:
        return None
    if fit is None:
        raise SweepInputError(f"--from-trial (FROM=) gives the model ablation its episodes; ablation "
                              f"{ablation.name} trains its own trials: drop FROM=")
    from sweeps.replay_episodes import NotATrialError, check_source_trial

    try:
        return check_source_trial(args.from_trial, task.name)
    except NotATrialError as error:
        raise SweepInputError(f"FROM={args.from_trial}: {error}") from error


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
_MODE_FLAGS = {"num_samples": (SWEEP,), "num_seeds": (SWEEP, REPRODUCE, ABLATION),
               "from_sweep": (REPRODUCE,), "schedules": (REPRODUCE, TRAIN, ABLATION),
               "ablation": (ABLATION,), "arms": (ABLATION,), "from_trial": (ABLATION,)}


def _num_seeds(args, budget: Budget) -> int:
    """Seeds per schedule: `--num-seeds` (`make ... SEEDS=N`), else the budget's."""
    return args.num_seeds or budget.num_seeds


def _load_space(spec: str) -> dict[str, Any]:
    try:
        space = spaces.load_space(spec)
    except spaces.SearchSpaceError as error:
        raise SweepInputError(str(error)) from error
    from sweeps.experiment import config_fields

    fields = config_fields()
    unknown = [key for key in space["params"] if key not in fields]
    if unknown:
        raise SweepInputError(f"search space {spec}: params {unknown} are not algorithm config fields")
    for key, categories in space["params"].items():
        for values in categories.values() if isinstance(categories, dict) else [categories]:
            wrong = [v for v in values if not _fits_field(v, fields[key], key in SVG_FIELDS)]
            if wrong:
                raise SweepInputError(f"search space {spec}: params.{key}: categories {wrong} do not fit the field "
                                      f"(default {fields[key]!r}): give {_kind(fields[key])}")
    return space


def _fits_field(value, default, svglab_field: bool) -> bool:
    """Whether a category can be the value of a config field with this default ("$name" references aside).
    svglab's fields that default to None are optional numbers (eq. 14's beta); RLlib's may be anything."""
    if isinstance(value, str) and value.startswith("$"):
        return True
    if isinstance(default, (bool, str)):
        return type(value) is type(default)
    if default is None and not svglab_field:
        return True
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number or (default is None and value is None)


def _kind(default) -> str:
    return {bool: "true or false", str: "strings"}.get(type(default), "numbers")


def _sample(space, args, budget: Budget, task: Task) -> list[dict[str, Any]]:
    num_samples = args.num_samples or budget.num_samples or space["num_samples"]
    seeds = 1 if space["seeds"] == "per_sample" else len(space["seeds"][:_num_seeds(args, budget)])
    if num_samples * seeds > spaces.MAX_TRIALS:  # said before drawing them
        raise SweepInputError(f"{num_samples:,} samples x {seeds} seeds is {num_samples * seeds:,} trials, more "
                              f"than {spaces.MAX_TRIALS:,}: lower SAMPLES= (--num-samples) or SEEDS= (--num-seeds)")
    try:
        return spaces.sample_configs(space, _sweep_seed(args), num_samples, max_seeds=_num_seeds(args, budget),
                                     suite=task.suite)
    except spaces.SearchSpaceError as error:
        raise SweepInputError(str(error)) from error


def _check_trials(trials: list[dict[str, Any]]) -> None:
    """At most MAX_TRIALS trials, each seed within numpy's and gymnasium's range."""
    if len(trials) > spaces.MAX_TRIALS:
        raise SweepInputError(f"{len(trials):,} trials, more than {spaces.MAX_TRIALS:,}: lower SEEDS= (--num-seeds)")
    top = max(trial["seed"] for trial in trials)
    if top > spaces.MAX_SEED:
        raise SweepInputError(f"the trials' seeds reach {top:,}, above {spaces.MAX_SEED:,} (numpy's and "
                              "gymnasium's seeding take 32 bits): give a smaller --seed (SEED=)")


def _sweep_seed(args) -> int:
    return 0 if args.seed is None else args.seed


def _validated_configs(task, budget, overrides, trials) -> list:
    """Build and validate every trial's config (so a bad value fails now)."""
    configs = []
    for trial in trials:
        schedule = {k: v for k, v in trial.items() if k != "seed"}
        config = build_config(task, budget, overrides, seed=trial["seed"], schedule=schedule)
        try:
            config.validate()
        except ValueError as error:
            raise SweepInputError(f"trial {trial}: {error}") from error
        configs.append(config)
    return configs


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
        "sweep_seed": _sweep_seed(args) if args.mode == SWEEP else None,
        "search_space": space or {},
        "overrides": overrides,
        "horizon": base["horizon"],
        "from_sweep": without_credentials(str(args.from_sweep)) if args.from_sweep else None,
        "trials": trials,
        "command": without_credentials(" ".join([f"python -m sweeps.{_module(args.mode)}", *sys.argv[1:]])),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "svglab_version": svglab_version(),
    }


def _module(mode: str) -> str:
    return "ablation" if mode == ABLATION else "sweep"


def _config_key(trial: dict[str, Any]) -> tuple:
    return tuple(sorted((k, v) for k, v in trial.items() if k != "seed"))


def write_manifest(plan: Plan) -> None:
    """Write sweep.json, or check that an existing one came from the same command (resume)."""
    path = plan.exp_dir / SWEEP_FILE
    new = json.loads(json.dumps(plan.manifest))
    if path.exists():
        old = _read_manifest(path)
        differs = [key for key in RESUME_KEYS if old.get(key) != new.get(key)]
        if differs:
            raise SweepInputError(
                f"{plan.exp_dir} holds an experiment from a different command (differs in: "
                f"{', '.join(differs)}). Rerun the same command to resume it, or pick another --results."
            )
        return
    plan.exp_dir.mkdir()
    path.write_text(json.dumps(new, indent=2) + "\n")


def _read_manifest(path) -> dict:
    """An existing sweep.json; SweepInputError naming it when it is cut off or not svglab's."""
    try:
        old = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise SweepInputError(f"{path} is corrupt ({error}): it was cut off or edited. Nothing was written. Move "
                              "it away to start this experiment afresh, or pick another --results.") from None
    if not isinstance(old, dict):
        raise SweepInputError(f"{path} is corrupt (not a JSON object). Nothing was written. Move it away to start "
                              "this experiment afresh, or pick another --results.")
    return old
