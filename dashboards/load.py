"""Read Ray Tune experiment folders written by ``sweeps`` into tidy pandas DataFrames.

An experiment folder (``<RESULTS>/<Task>-<mode>-<budget>/``) holds ``sweep.json`` and one folder
per trial with ``params.json`` and ``progress.csv`` (or ``result.json``). Two frames come out:

- :func:`trials_frame`: one row per trial: experiment metadata, the trial's configuration, its
  final (= last) evaluation return and how complete it is;
- :func:`curves_frame`: one row per trial and training iteration (the learning curves).

Missing pieces never raise: a trial without results yet has NaN returns and status "no results".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from algorithms.sac_svg.metrics import (
    ALPHA,
    DONE,
    ENV_STEPS,
    EVAL_RETURN,
    LOSS_ACTOR,
    LOSS_CRITIC,
    LOSS_DYNAMICS,
    MODEL_ERROR,
    TARGET_ENTROPY,
    TRAIN_RETURN,
)
from tasks import SCHEDULE_FIELDS

SWEEP_FILE = "sweep.json"
PARAMS_FILE = "params.json"

# Per-iteration result columns the dashboards use (the sweeps' contract).
CURVE_COLUMNS = (
    "training_iteration", ENV_STEPS, EVAL_RETURN, TRAIN_RETURN, TARGET_ENTROPY,
    ALPHA, MODEL_ERROR, LOSS_ACTOR, LOSS_CRITIC, LOSS_DYNAMICS, DONE,
)
# Configuration columns taken from params.json: our name -> params.json key.
CONFIG_KEYS = {
    "horizon": "horizon",
    **{key: key for key in SCHEDULE_FIELDS},  # the config's names (tasks.EntropySchedule)
    "seed": "seed",
    "env": "env",
}
SCHEDULE = SCHEDULE_FIELDS
# Trial statuses, from best to worst.
COMPLETE, RUNNING, NO_EVAL, NO_RESULTS, ERROR = (
    "complete", "running", "no evaluation yet", "no results", "error")


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
    """Look a task up in ``tasks``; fall back to the bare name when it is not there."""
    try:
        from tasks import get_task

        task = get_task(name)
    except (ImportError, KeyError, ValueError, LookupError):
        return TaskInfo(name, suite, name, None, None, None)
    sched = getattr(task, "schedule", None)
    schedule = None if sched is None else tuple(getattr(sched, key) for key in SCHEDULE_FIELDS)
    return TaskInfo(task.name, task.suite or suite, task.paper_name or task.name,
                    task.train_steps, task.eval_interval, schedule)


# ---------------------------------------------------------------- experiment folders


def find_experiments(results: Path) -> list[Path]:
    """Every experiment folder (one holding ``sweep.json``) at most two levels under ``results``."""
    results = Path(results)
    found = {p.parent for p in results.glob(SWEEP_FILE)}
    found |= {p.parent for p in results.glob(f"*/{SWEEP_FILE}")}
    found |= {p.parent for p in results.glob(f"*/*/{SWEEP_FILE}")}
    return sorted(found)


def read_meta(exp: Path) -> dict:
    """``sweep.json`` with the folder's path added (and sensible defaults for missing keys)."""
    meta = json.loads((Path(exp) / SWEEP_FILE).read_text())
    meta.setdefault("task", Path(exp).name.split("-")[0])
    meta.setdefault("mode", "sweep")
    meta.setdefault("budget", "")
    meta.setdefault("suite", "")
    meta.setdefault("created", "")
    meta["path"] = str(Path(exp))
    return meta


def latest_experiments(experiments: list[Path]) -> list[Path]:
    """The most recently created experiment per (task, mode), by ``created`` then folder time."""
    best: dict[tuple[str, str], tuple[tuple, Path]] = {}
    for exp in experiments:
        meta = read_meta(exp)
        key = (meta["task"], meta["mode"])
        rank = (str(meta["created"]), (Path(exp) / SWEEP_FILE).stat().st_mtime)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, Path(exp))
    return sorted(p for _, p in best.values())


def trial_dirs(exp: Path) -> list[Path]:
    """The trial folders of an experiment: its subfolders holding ``params.json``."""
    return sorted(p.parent for p in Path(exp).glob(f"*/{PARAMS_FILE}"))


# ---------------------------------------------------------------- one trial


def read_params(trial: Path) -> dict:
    """The trial's configuration columns (NaN where params.json lacks a key)."""
    params = json.loads((Path(trial) / PARAMS_FILE).read_text())
    return {ours: _number_or_nan(params.get(key)) if ours != "env" else params.get(key)
            for ours, key in CONFIG_KEYS.items()}


def _number_or_nan(value):
    return math.nan if value is None else value


def read_progress(trial: Path) -> pd.DataFrame:
    """The trial's per-iteration results (only :data:`CURVE_COLUMNS`), possibly empty."""
    csv, js = Path(trial) / "progress.csv", Path(trial) / "result.json"
    frame = pd.DataFrame()
    if csv.exists() and csv.stat().st_size > 0:
        try:
            frame = pd.read_csv(csv, usecols=lambda c: c in CURVE_COLUMNS)
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
    elif js.exists() and js.stat().st_size > 0:
        rows = [json.loads(line) for line in js.read_text().splitlines() if line.strip()]
        frame = pd.DataFrame([{k: r.get(k) for k in CURVE_COLUMNS} for r in rows])
    for col in CURVE_COLUMNS:
        if col not in frame:
            frame[col] = math.nan
    numeric = [c for c in CURVE_COLUMNS if c != DONE]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    return frame[list(CURVE_COLUMNS)]


def final_eval(progress: pd.DataFrame) -> tuple[float, float]:
    """(last evaluation return, env steps at that evaluation); NaNs when never evaluated."""
    evals = progress.dropna(subset=[EVAL_RETURN])
    if evals.empty:
        return math.nan, math.nan
    last = evals.iloc[-1]
    return float(last[EVAL_RETURN]), float(last[ENV_STEPS])


def trial_status(trial: Path, progress: pd.DataFrame, train_steps: int | None) -> str:
    """complete / running / no evaluation yet / no results / error."""
    steps = progress[ENV_STEPS].max() if len(progress) else math.nan
    if train_steps and steps >= train_steps and progress[EVAL_RETURN].notna().any():
        return COMPLETE
    if (Path(trial) / "error.txt").exists():
        return ERROR
    if progress.empty:
        return NO_RESULTS
    if progress[EVAL_RETURN].isna().all():
        return NO_EVAL
    return RUNNING


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Results:
    """Everything the tables, plots and report need, read once."""

    experiments: pd.DataFrame  # one row per experiment folder
    trials: pd.DataFrame  # one row per trial
    curves: pd.DataFrame  # one row per trial and training iteration


def experiment_row(exp: Path) -> dict:
    """sweep.json's metadata plus the task registry's information about the task."""
    meta = read_meta(exp)
    info = task_info(meta["task"], meta["suite"])
    return {
        "experiment": Path(exp).name, "path": meta["path"], "task": meta["task"],
        "suite": meta["suite"] or info.suite, "mode": meta["mode"], "budget": meta["budget"],
        "train_steps": meta.get("train_steps") or info.train_steps,
        "eval_interval": meta.get("eval_interval") or info.eval_interval,
        "num_samples": meta.get("num_samples"), "seeds": meta.get("seeds"),
        "horizon": meta.get("horizon"), "created": meta["created"], "paper_name": info.paper_name,
        "registry_train_steps": info.train_steps, "paper_schedule": info.schedule,
    }


def trial_row(trial: Path, exp: dict, progress: pd.DataFrame) -> dict:
    """One tidy row describing a trial of the experiment ``exp`` (an :func:`experiment_row`)."""
    value, at = final_eval(progress)
    status = trial_status(trial, progress, exp["train_steps"])
    return {
        **{k: exp[k] for k in _EXPERIMENT_KEYS},
        "trial": Path(trial).name,
        **read_params(trial),
        "iterations": len(progress),
        ENV_STEPS: progress[ENV_STEPS].max() if len(progress) else math.nan,
        "final_eval": value,
        "final_eval_step": at,
        "status": status,
        "complete": status == COMPLETE,
    }


_EXPERIMENT_KEYS = ["experiment", "task", "paper_name", "suite", "mode", "budget", "train_steps"]
TRIAL_COLUMNS = [*_EXPERIMENT_KEYS, "trial", *CONFIG_KEYS, "iterations", ENV_STEPS,
                 "final_eval", "final_eval_step", "status", "complete"]
CURVE_IDENT = ["experiment", "task", "mode", "trial", *CONFIG_KEYS]
_FLOATS = {"horizon": float, **{key: float for key in SCHEDULE_FIELDS}}


def read_results(experiments: list[Path]) -> Results:
    """Read the experiments' metadata, trials and learning curves (each progress file once)."""
    exps, trials, curves = [], [], []
    for exp in experiments:
        row = experiment_row(exp)
        exps.append(row)
        for trial in trial_dirs(exp):
            progress = read_progress(trial)
            trials.append(trial_row(trial, row, progress))
            if len(progress):
                ident = {k: v for k, v in trials[-1].items() if k in CURVE_IDENT}
                curves.append(progress.assign(**ident))
    trials_df = pd.DataFrame(trials, columns=TRIAL_COLUMNS).astype(_FLOATS)
    columns = [*CURVE_IDENT, *CURVE_COLUMNS]
    curves_df = (pd.concat(curves, ignore_index=True)[columns] if curves
                 else pd.DataFrame(columns=columns)).astype(_FLOATS)
    return Results(pd.DataFrame(exps), trials_df, curves_df)


def select_experiments(results: Path, sweeps: list[Path] | None = None) -> list[Path]:
    """The experiments to report: the given folders, else the latest per task and mode."""
    if sweeps:
        chosen = []
        for s in sweeps:
            s = Path(s)
            s = s if s.exists() or s.is_absolute() else Path(results) / s
            if not (s / SWEEP_FILE).exists():
                raise FileNotFoundError(f"{s} is not an experiment folder (no {SWEEP_FILE})")
            chosen.append(s)
        return chosen
    return latest_experiments(find_experiments(results))
