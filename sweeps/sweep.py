"""`make sweep` / `make reproduce` / `make train`: SAC-SVG(H) experiments orchestrated by Ray Tune.

    python -m sweeps.sweep --task Walker2d [--budget paper|smoke] [--results results]
        [--mode sweep|reproduce|train] [--space paper|official|FILE] [--seed N] [--set key=value ...]
        [--from-sweep DIR] [--num-samples N] [--max-concurrent N] [--no-dashboard] [--verbose]

- sweep: appendix A.2's random search over the target-entropy schedule, SAC-SVG(H = 2) by default; the
  trials are drawn up front from the sweep seed (sweeps.search_space) and handed to Tune as a fixed list.
- reproduce: Table 2's runs: one schedule (the best of `--from-sweep DIR`, else Table 4's) for
  `budget.num_seeds` seeds with SAC-SVG(H) and, with the same seeds, the H = 0 SAC baseline.
- train: one trial with the task's Table 4 schedule (`make train`).

Everything lands in `<results>/<Task>-<mode>-<budget>/`, Tune's experiment folder (docs/sweeps.md), with a
`sweep.json` manifest. Running the same command again resumes the experiment. Bad input fails here,
before Ray starts, and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from sweeps import search_space as spaces
from sweeps.budgets import Budget, UnknownBudgetError, get_budget
from sweeps.experiment import OverrideError, build_config, parse_overrides, schedule_fields
from tasks import Task, UnknownTaskError, get_task

logger = logging.getLogger(__name__)

MODES = ("sweep", "reproduce", "train")
BASELINE_HORIZON = 0  # H = 0 is SAC
DASHBOARD = ("127.0.0.1", 8265)
WANDB_PROJECT = "svglab"
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
    exp_dir: Path
    param_space: dict[str, Any]  # the shared config; the keys the trials vary are tune.choice domains
    trials: list[dict[str, Any]]  # each trial's varied config fields, in trial order
    manifest: dict[str, Any]

    @property
    def steps_per_trial(self) -> int:
        return self.manifest["train_steps"]


# ----------------------------------------------------------------------------------------------- input


def parse_args(argv=None, mode: str = "sweep") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m sweeps.{'train' if mode == 'train' else 'sweep'}",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="task name, e.g. Walker2d, poplin-cheetah")
    parser.add_argument("--budget", default="paper", help="paper (default) or smoke")
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--mode", default=mode, choices=MODES)
    parser.add_argument("--space", default="paper",
                        help="search space: paper (A.2, default), official, or a .json/.yaml file")
    parser.add_argument("--seed", type=int, default=None,
                        help="sweep: the sweep seed (default 0); reproduce: first of the seeds (default 1); "
                             "train: the trial's seed (default 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override an algorithm config field, e.g. --set horizon=3 (repeatable)")
    parser.add_argument("--official-defaults", action="store_true",
                        help="the official code's hyper-parameters where they differ from Table 3 (NOTES.md)")
    parser.add_argument("--from-sweep", type=Path, default=None,
                        help="reproduce: take the best schedule of this sweep folder (default: Table 4's)")
    parser.add_argument("--num-samples", type=int, default=None, help="sweep: configurations to draw")
    parser.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: budget's)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    parser.add_argument("--verbose", action="store_true",
                        help="also print Tune's status tables and the trials' own log lines")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    """Validate every input and build every trial's config; raises SweepInputError; writes nothing."""
    try:
        task = get_task(args.task)
        budget = get_budget(args.budget)
        overrides = parse_overrides(args.overrides)
        if args.official_defaults:  # NOTES.md's official-code values, under any explicit --set
            from algorithms.sac_svg.config import SVGHyperparameters

            overrides = SVGHyperparameters.official_code_defaults() | overrides
    except (UnknownTaskError, UnknownBudgetError, OverrideError) as error:
        raise SweepInputError(str(error)) from error
    for flag in ("num_samples", "max_concurrent"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise SweepInputError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")

    space = None
    if args.mode == "sweep":
        space = _load_space(args.space)
        trials = spaces.sample_configs(space, _sweep_seed(args), args.num_samples or budget.num_samples,
                                       max_seeds=budget.num_seeds)
    elif args.mode == "reproduce":
        horizon = overrides.pop("horizon", build_config(task, budget).horizon)
        schedule = best_schedule(args.from_sweep) if args.from_sweep else schedule_fields(task.schedule)
        first_seed = 1 if args.seed is None else args.seed
        seeds = range(first_seed, first_seed + budget.num_seeds)
        trials = [{**schedule, "horizon": h, "seed": s} for h in (horizon, BASELINE_HORIZON) for s in seeds]
    else:
        trials = [{**schedule_fields(task.schedule), "seed": 1 if args.seed is None else args.seed}]

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
    exp_dir = Path(args.results).resolve() / f"{task.name}-{args.mode}-{budget.name}"
    manifest = _manifest(task, budget, args, space, overrides, trials, base)
    return Plan(task, budget, args.mode, exp_dir, _param_space(base, trials), trials, manifest)


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
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "svglab_version": _version(),
    }


def _config_key(trial: dict[str, Any]) -> tuple:
    return tuple(sorted((k, v) for k, v in trial.items() if k != "seed"))


def _version() -> str:
    try:
        return metadata.version("svglab")
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text())["project"]["version"]


# ------------------------------------------------------------------------------------------- results


def trial_table(exp_dir: Path):
    """One row per trial folder: its config fields (from params.json), env steps reached, the last and
    the best evaluation return (from progress.csv)."""
    import pandas as pd

    rows = []
    for params_file in sorted(Path(exp_dir).glob("*/params.json")):
        params = json.loads(params_file.read_text())
        row = {"trial": params_file.parent.name, **{k: params.get(k) for k in (
            "horizon", *spaces.TARGET_ENTROPY_KEYS, "seed")}}
        progress = params_file.parent / "progress.csv"
        frame = pd.read_csv(progress) if progress.is_file() and progress.stat().st_size else pd.DataFrame()
        evals = frame["eval_return"].dropna() if "eval_return" in frame else pd.Series(dtype=float)
        row["env_steps"] = int(frame["env_steps"].iloc[-1]) if "env_steps" in frame and len(frame) else 0
        row["final_eval_return"] = evals.iloc[-1] if len(evals) else math.nan
        row["best_eval_return"] = evals.max() if len(evals) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def best_schedule(sweep_dir: Path) -> dict[str, Any]:
    """Table 2's choice: the schedule with the highest mean final evaluation return over its seeds."""
    table = trial_table(sweep_dir)
    if table.empty or table["final_eval_return"].isna().all():
        raise SweepInputError(f"--from-sweep {sweep_dir}: no trial with an evaluation return there")
    keys = list(spaces.TARGET_ENTROPY_KEYS)
    means = table.dropna(subset=["final_eval_return"]).groupby(keys, dropna=False)["final_eval_return"].mean()
    best = means.idxmax()
    return {key: (None if _isnan(v) else _plain(v)) for key, v in zip(keys, best)}


def _plain(value):
    """numpy scalars -> int/float (ints where integral, as in the search space)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _isnan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def print_summary(plan: Plan) -> None:
    table = trial_table(plan.exp_dir)
    if table.empty:
        return
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 300):
        columns = ["horizon", *spaces.TARGET_ENTROPY_KEYS]
        summary = table.groupby(columns, dropna=False)["final_eval_return"].agg(["mean", "std", "count"])
        print(f"\nFinal evaluation return per configuration (mean, std over seeds) in {plan.exp_dir}:")
        print(summary.sort_values("mean", ascending=False).to_string())


# ----------------------------------------------------------------------------------------------- run


def write_manifest(plan: Plan) -> None:
    """Write sweep.json, or check that an existing one came from the same command (resume)."""
    path = plan.exp_dir / "sweep.json"
    new = json.loads(json.dumps(plan.manifest))
    if path.is_file():
        old = json.loads(path.read_text())
        differs = [key for key in RESUME_KEYS if old.get(key) != new.get(key)]
        if differs:
            raise SweepInputError(
                f"{plan.exp_dir} holds an experiment from a different command (differs in: "
                f"{', '.join(differs)}). Rerun the same command to resume it, or pick another --results."
            )
        return
    plan.exp_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(new, indent=2) + "\n")


def init_ray(dashboard: bool, verbose: bool = False) -> None:
    """Connect to the cluster at RAY_ADDRESS, or start a local one (dashboard on 127.0.0.1:8265).

    The trials' own log lines (RLlib's and Ray's warnings) reach the terminal only with --verbose; they
    are always in the Ray dashboard and in each trial's folder, and a failing trial's error is reported.
    """
    import ray

    import algorithms
    import sweeps
    import tasks

    # Trials and env runners import our packages: ship them to the cluster (a local one already has them).
    if os.environ.get("RAY_ADDRESS"):
        context = ray.init(runtime_env={"py_modules": [algorithms, sweeps, tasks]}, log_to_driver=verbose)
    else:
        host, port = DASHBOARD
        context = ray.init(address="local", include_dashboard=dashboard, dashboard_host=host, dashboard_port=port,
                           log_to_driver=verbose)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}", flush=True)


def wandb_mode() -> str:
    """WANDB_MODE if the user set it; else online when logged in (WANDB_API_KEY or `wandb login`), else
    offline: runs stay on disk, syncable later with `wandb sync`."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        import wandb

        return "online" if wandb.api.api_key else "offline"
    except Exception:  # no wandb, unreadable settings: never fail a sweep over W&B
        return "offline"


def wandb_callbacks(group: str) -> list:
    """Ray's WandbLoggerCallback: project "svglab", the experiment folder's name as group, one run per
    trial (in the trial's folder, under wandb/). Empty when wandb is missing or WANDB_MODE=disabled."""
    if _WandbLoggerCallback is object:
        logger.warning("wandb is not installed: no W&B logging")
        return []
    mode = wandb_mode()
    os.environ["WANDB_MODE"] = mode  # the driver-side check for an API key reads this
    if mode == "disabled":
        return []
    print(f"W&B: project {WANDB_PROJECT!r}, group {group!r}, {mode}", flush=True)
    return [SafeWandbLoggerCallback(project=WANDB_PROJECT, group=group, mode=mode, resume="allow",
                                   settings={"silent": True})]


try:
    from ray.air.integrations.wandb import WandbLoggerCallback as _WandbLoggerCallback
except ImportError:  # pragma: no cover
    _WandbLoggerCallback = object


class SafeWandbLoggerCallback(_WandbLoggerCallback):
    """WandbLoggerCallback that never fails a sweep: the first W&B error is logged and W&B is switched off
    for the rest of the run."""

    _broken = False

    def _safely(self, method, *args, **kwargs):
        if self._broken:
            return None
        try:
            return method(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any W&B problem
            self._broken = True
            logger.warning("W&B logging switched off after an error: %s", error)
            return None

    def setup(self, *args, **kwargs):
        self._broken = False
        return self._safely(super().setup, *args, **kwargs)

    def log_trial_start(self, trial):
        return self._safely(super().log_trial_start, trial)

    def log_trial_result(self, iteration, trial, result):
        return self._safely(super().log_trial_result, iteration, trial, result)

    def log_trial_save(self, trial):
        return self._safely(super().log_trial_save, trial)

    def log_trial_end(self, trial, failed=False):
        return self._safely(super().log_trial_end, trial, failed)

    def on_experiment_end(self, trials, **info):
        # Trials cut short by Ctrl-C never get log_trial_end: end their runs too, or Ray's callback waits
        # `upload_timeout` (30 min) for them.
        for trial in list(getattr(self, "_trial_queues", {})):
            self._safely(self._signal_logging_actor_stop, trial)
        return self._safely(super().on_experiment_end, trials, **info)


def trial_dirname(trial) -> str:
    """Readable trial folders: <id>_H=2_init=0_final=-8_beta=4_seed=3."""
    c = trial.config
    return (f"{trial.trial_id}_H={c.get('horizon')}_init={c.get('target_entropy_init')}_"
            f"final={c.get('target_entropy_final')}_beta={c.get('target_entropy_beta')}_seed={c.get('seed')}")


def callbacks(plan: Plan) -> list:
    """The progress line, W&B, and progress.csv with an eval_return column (Tune adds its result.json and
    TensorBoard loggers)."""
    from sweeps.progress import ProgressCSV, SweepProgress

    return [
        SweepProgress(plan.exp_dir.name, plan.steps_per_trial),
        *wandb_callbacks(plan.exp_dir.name),
        ProgressCSV(["eval_return"]),
    ]


def make_tuner(plan: Plan, args: argparse.Namespace):
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from algorithms.sac_svg import SACSVG
    if tune.Tuner.can_restore(plan.exp_dir):
        print(f"Resuming {plan.exp_dir} (finished trials are kept, unfinished ones continue "
              "from their last checkpoint)", flush=True)
        return tune.Tuner.restore(str(plan.exp_dir), trainable=SACSVG, resume_errored=True)
    budget = plan.budget
    return tune.Tuner(
        SACSVG,
        param_space=plan.param_space,
        tune_config=tune.TuneConfig(
            num_samples=len(plan.trials),
            search_alg=BasicVariantGenerator(
                points_to_evaluate=plan.trials, max_concurrent=args.max_concurrent or budget.max_concurrent_trials or 0
            ),
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=plan.exp_dir.name,
            storage_path=str(plan.exp_dir.parent),
            stop={"env_steps": plan.steps_per_trial},
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=budget.keep_checkpoints,
                checkpoint_frequency=budget.checkpoint_every,
                checkpoint_at_end=True,
            ),
            failure_config=tune.FailureConfig(max_failures=budget.max_failures),
            callbacks=callbacks(plan),
            verbose=1 if args.verbose else 0,
        ),
    )


def check_resume_checkpoints(plan: Plan) -> None:
    """Before Ray starts: every unfinished trial's latest checkpoint (the one a resume loads) must unpickle."""
    from algorithms.sac_svg.algorithm import unreadable_checkpoint_file

    table = trial_table(plan.exp_dir)
    for trial in table[table["env_steps"] < plan.steps_per_trial]["trial"] if len(table) else []:
        checkpoints = sorted((plan.exp_dir / trial).glob("checkpoint_*"))
        problem = checkpoints and unreadable_checkpoint_file(checkpoints[-1])
        if problem:
            raise SweepInputError(
                f"cannot resume trial {trial}: {problem}. Nothing was changed: move {checkpoints[-1]} aside to "
                "resume from the checkpoint before it (or from the start), then run the same command again.")


def run(plan: Plan, args: argparse.Namespace) -> int:
    import ray

    write_manifest(plan)
    check_resume_checkpoints(plan)
    print(f"{plan.mode} {plan.exp_dir.name}: {len(plan.trials)} trials x {plan.steps_per_trial:,} env steps "
          f"-> {plan.exp_dir}", flush=True)
    init_ray(dashboard=not args.no_dashboard, verbose=args.verbose)
    # Checkpoints (and so experiment snapshots) come as often as the budget asks: no warning about it.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    try:
        results = make_tuner(plan, args).fit()
    finally:
        ray.shutdown()
    print_summary(plan)
    unfinished = [r for r in results if r.metrics is None or not _finished(r.metrics, plan.steps_per_trial)]
    if results.errors or unfinished:
        print(f"{len(results.errors)} trial(s) failed, {len(unfinished)} unfinished: run the same command "
              "again to resume.", file=sys.stderr)
        return 1
    return 0


def _finished(metrics: dict, steps: int) -> bool:
    return metrics.get("done") is True or metrics.get("env_steps", 0) >= steps


def main(argv=None, mode: str = "sweep") -> int:
    args = parse_args(argv, mode)
    try:
        plan = make_plan(args)
        return run(plan, args)
    except SweepInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
