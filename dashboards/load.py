"""Read Ray Tune experiment folders written by ``sweeps`` into tidy pandas DataFrames.

An experiment folder (``<RESULTS>/<Task>-<mode>-<budget>/``) holds ``sweep.json`` and one folder
per trial with ``params.json`` and ``progress.csv`` (or ``result.json``). Two frames come out:

- :func:`trials_frame`: one row per trial: experiment metadata, the trial's configuration, its
  final (= last) evaluation return, its score (:class:`dashboards.intervals.ScoreRule`) and how complete it is;
- :func:`curves_frame`: one row per trial and training iteration (the learning curves).

Missing pieces never raise: a trial without results yet has NaN returns and status "no results".
Each trial folder is read by the one results reader (:mod:`sweeps.results`, which `make reproduce
--from-sweep` uses too), and every folder through :mod:`sweeps.storage` (a local folder or a URI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dashboards.intervals import AUTO_SCORE, ScoreRule
from sweeps.layout import ABLATION, SWEEP, SWEEP_FILE
from sweeps.results import CONFIG_KEYS, CURVE_COLUMNS, TRIAL_COLUMNS, read_progress, trial_dirs, trial_row, trial_score
from sweeps.storage import Location, is_uri
from tasks import SCHEDULE_FIELDS

SCHEDULE = SCHEDULE_FIELDS


@dataclass(frozen=True)
class TaskInfo:
    """What the dashboards need from the task registry (``tasks``)."""

    name: str
    suite: str
    paper_name: str
    train_steps: int | None
    eval_interval: int | None
    schedule: tuple[float, float, float | None] | None  # the paper's Table 4 (init, final, beta)


def task_info(name: str, suite: str = "") -> TaskInfo:
    """Look a task up in the task registry; any other task (a gymnasium id, a researcher's own environment) is
    its name as typed, with no paper numbers. Nothing is built or imported: a results folder names the task."""
    try:
        from tasks import registered_task

        task = registered_task(name)
    except ImportError:
        task = None
    if task is None:
        return TaskInfo(name, suite, name, None, None, None)
    sched = getattr(task, "schedule", None)
    schedule = None if sched is None else tuple(getattr(sched, key) for key in SCHEDULE_FIELDS)
    return TaskInfo(task.name, task.suite or suite, task.paper_name or task.name,
                    task.train_steps, task.eval_interval, schedule)


# ---------------------------------------------------------------- experiment folders


def find_experiments(results: Location) -> list[Location]:
    """Every experiment folder (one holding ``sweep.json``) at most two levels under ``results``."""
    results = Location.of(results)
    found = {p.parent for pattern in ("", "*/", "*/*/") for p in results.glob(pattern + SWEEP_FILE)}
    return sorted(found)


def read_meta(exp: Location) -> dict:
    """``sweep.json`` with the folder's location added (and sensible defaults for missing keys)."""
    exp = Location.of(exp)
    meta = json.loads((exp / SWEEP_FILE).read_text())
    meta.setdefault("task", exp.name.split("-")[0])
    meta.setdefault("mode", SWEEP)
    meta.setdefault("budget", "")
    meta.setdefault("suite", "")
    meta.setdefault("created", "")
    meta["path"] = str(exp)
    return meta


def latest_experiments(experiments: list[Location]) -> list[Location]:
    """The most recently created experiment per (task, mode), by ``created`` then folder time. Ablations are left
    out: their plots and tables are dashboards.ablations'."""
    best: dict[tuple[str, str], tuple[tuple, Location]] = {}
    for exp in map(Location.of, experiments):
        meta = read_meta(exp)
        if meta["mode"] == ABLATION:
            continue
        key = (meta["task"], meta["mode"])
        rank = (str(meta["created"]), (exp / SWEEP_FILE).mtime())
        if key not in best or rank > best[key][0]:
            best[key] = (rank, exp)
    return sorted(p for _, p in best.values())


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Results:
    """Everything the tables, plots and report need, read once."""

    experiments: pd.DataFrame  # one row per experiment folder
    trials: pd.DataFrame  # one row per trial
    curves: pd.DataFrame  # one row per trial and training iteration


def experiment_row(exp: Location) -> dict:
    """sweep.json's metadata plus the task registry's information about the task."""
    meta = read_meta(exp)
    info = task_info(meta["task"], meta["suite"])
    return {
        "experiment": Location.of(exp).name, "path": meta["path"], "task": meta["task"],
        "suite": meta["suite"] or info.suite, "mode": meta["mode"], "budget": meta["budget"],
        "train_steps": meta.get("train_steps") or info.train_steps,
        "eval_interval": meta.get("eval_interval") or info.eval_interval,
        "num_samples": meta.get("num_samples"), "seeds": meta.get("seeds"),
        "horizon": meta.get("horizon"), "created": meta["created"], "paper_name": info.paper_name,
        "registry_train_steps": info.train_steps, "paper_schedule": info.schedule,
    }


_EXPERIMENT_KEYS = ["experiment", "task", "paper_name", "suite", "mode", "budget", "train_steps"]
COLUMNS = [*_EXPERIMENT_KEYS, *TRIAL_COLUMNS, "score"]
CURVE_IDENT = ["experiment", "task", "mode", "trial", *CONFIG_KEYS]
_FLOATS = {"horizon": float, **{key: float for key in SCHEDULE_FIELDS}}


def read_results(experiments: list[Location], score: ScoreRule = AUTO_SCORE) -> Results:
    """Read the experiments' metadata, trials (with each trial's ``score`` by the rule ``score``) and learning
    curves (each progress file once)."""
    exps, trials, curves = [], [], []
    for exp in experiments:
        row = experiment_row(exp)
        row["score_rule"] = score.describe(row["budget"])
        exps.append(row)
        for trial in trial_dirs(exp):
            progress = read_progress(trial)
            trials.append({**{k: row[k] for k in _EXPERIMENT_KEYS}, **trial_row(trial, progress, row["train_steps"]),
                           "score": trial_score(progress, score.k(row["budget"]))})
            if len(progress):
                ident = {k: v for k, v in trials[-1].items() if k in CURVE_IDENT}
                curves.append(progress.assign(**ident))
    trials_df = pd.DataFrame(trials, columns=COLUMNS).astype(_FLOATS)
    columns = [*CURVE_IDENT, *CURVE_COLUMNS]
    curves_df = (pd.concat(curves, ignore_index=True)[columns] if curves
                 else pd.DataFrame(columns=columns)).astype(_FLOATS)
    return Results(pd.DataFrame(exps), trials_df, curves_df)


class NoExperimentsError(ValueError):
    """Nothing to report: the results folder is missing or holds no experiment, or a chosen one is missing."""


def select_experiments(results: Location, sweeps: list | None = None) -> list[Location]:
    """The experiments to report: the given folders (a URI, a path, or a name under ``results``), else the
    latest per task and mode; NoExperimentsError, saying which folder, when there are none."""
    if sweeps:
        chosen = []
        for s in sweeps:
            s = Location.of(s) if is_uri(s) or Path(s).exists() or Path(s).is_absolute() else Location.of(
                results) / str(s)
            if not (s / SWEEP_FILE).exists():
                missing = "does not exist" if not s.exists() else f"is not an experiment folder (no {SWEEP_FILE})"
                raise NoExperimentsError(f"sweep folder {s} {missing}")
            chosen.append(s)
        return chosen
    found = latest_experiments(find_experiments(results))
    if not found:
        where = Location.of(results)
        raise NoExperimentsError(f"results folder {where} does not exist" if not where.exists() else
                                 f"no experiment folders (with {SWEEP_FILE}) under {where}: run `make sweep` first")
    return found
