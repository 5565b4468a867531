"""The one results reader: a trial folder's configuration and learning curve, one row per trial of an
experiment folder, the schedule groups, and the one rule that picks the best schedule. `make reproduce
--from-sweep` and Table 4 (dashboards) both decide with :func:`best_group`.

A trial folder holds `params.json` and `progress.csv` (else Tune's `result.json`); missing pieces never
raise: a trial without results has NaN returns. Folders are read through `sweeps.storage` (a local
folder, an NFS path or a URI).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

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
    WORLD_MODEL_DTYPE,
)
from sweeps.layout import PARAMS_FILE, PROGRESS_FILE, RESULT_FILE
from sweeps.storage import Location
from tasks import SCHEDULE_FIELDS

# Per-iteration result columns the readers keep (the sweeps' contract with the dashboards).
CURVE_COLUMNS = (
    "training_iteration", ENV_STEPS, EVAL_RETURN, TRAIN_RETURN, TARGET_ENTROPY,
    ALPHA, MODEL_ERROR, LOSS_ACTOR, LOSS_CRITIC, LOSS_DYNAMICS, DONE, WORLD_MODEL_DTYPE,
)
TEXT_CURVE_COLUMNS = (DONE, WORLD_MODEL_DTYPE)  # the curve columns that are not numbers
# Configuration columns taken from params.json: our name -> params.json key.
CONFIG_KEYS = {"horizon": "horizon", **{key: key for key in SCHEDULE_FIELDS}, "seed": "seed", "env": "env"}
# A schedule group: the trials that differ only in their seed.
SCHEDULE_GROUP = ["horizon", *SCHEDULE_FIELDS]
TRIAL_COLUMNS = ["trial", *CONFIG_KEYS, "iterations", ENV_STEPS, "final_eval", "final_eval_step", "status",
                 "complete", WORLD_MODEL_DTYPE]
# Trial statuses, from best to worst.
COMPLETE, RUNNING, NO_EVAL, NO_RESULTS, ERROR = (
    "complete", "running", "no evaluation yet", "no results", "error")


class NoResultsError(ValueError):
    pass


# ---------------------------------------------------------------- one trial folder


def latest_checkpoint(trial: Path) -> Path | None:
    """The trial's newest `checkpoint_*` folder (Tune numbers them in order); None before its first."""
    checkpoints = sorted(Path(trial).glob("checkpoint_*"))
    return checkpoints[-1] if checkpoints else None


def trial_dirs(exp: Location) -> list[Location]:
    """The trial folders of an experiment: its subfolders holding ``params.json``."""
    return [p.parent for p in Location.of(exp).glob(f"*/{PARAMS_FILE}")]


def read_params(trial: Location) -> dict:
    """The trial's configuration columns (NaN where its configuration lacks a key)."""
    params = trial_config(trial)
    return {ours: params.get(key) if ours == "env" else _number_or_nan(params.get(key))
            for ours, key in CONFIG_KEYS.items()}


def trial_config(trial: Location) -> dict:
    """params.json; where a full disk left it empty or cut off (Tune rewrites it when it retries a trial), the
    configuration Tune repeats in the first complete result.json record; else empty."""
    trial = Location.of(trial)
    try:
        return json.loads((trial / PARAMS_FILE).read_text())
    except json.JSONDecodeError:
        js = trial / RESULT_FILE
        records = complete_records(js.read_text()) if js.is_file() else []
        return records[0].get("config", {}) if records else {}


def _number_or_nan(value):
    return math.nan if value is None else value


def read_progress(trial: Location) -> pd.DataFrame:
    """The trial's per-iteration results (only :data:`CURVE_COLUMNS`) from progress.csv, else (when that holds
    no complete row) result.json; empty when neither does. A column progress.csv lacks (its header is its first
    row's: a metric first reported later has no column in a file written before every learner metric got one)
    comes from result.json's row of the same env steps. A full disk or a killed process can cut either file
    off mid-row: only rows whose newline was written count."""
    trial = Location.of(trial)
    csv, js = trial / PROGRESS_FILE, trial / RESULT_FILE
    frame = csv_rows(complete_lines(csv.read_text())) if csv.is_file() else pd.DataFrame()
    missing = [col for col in CURVE_COLUMNS if col not in frame]
    if missing and js.is_file():
        records = pd.DataFrame([{k: r.get(k) for k in CURVE_COLUMNS} for r in complete_records(js.read_text())])
        frame = records if frame.empty or ENV_STEPS in missing else frame.merge(
            records[[ENV_STEPS, *missing]].drop_duplicates(ENV_STEPS, keep="last"), on=ENV_STEPS, how="left")
    for col in CURVE_COLUMNS:
        if col not in frame:
            frame[col] = math.nan
    numeric = [c for c in CURVE_COLUMNS if c not in TEXT_CURVE_COLUMNS]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    return frame[list(CURVE_COLUMNS)]


def complete_lines(text: str) -> str:
    """The text up to its last newline: Tune ends every row of its logs with one, so what follows was cut off."""
    return text[:text.rfind("\n") + 1]


def csv_rows(text: str) -> pd.DataFrame:
    """progress.csv's :data:`CURVE_COLUMNS`; empty without a header and a row."""
    try:
        return pd.read_csv(io.StringIO(text), usecols=lambda c: c in CURVE_COLUMNS)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def complete_records(text: str) -> list[dict]:
    """result.json's records, one per complete line; a broken complete line still fails."""
    return [json.loads(line) for line in complete_lines(text).splitlines() if line.strip()]


def final_eval(progress: pd.DataFrame) -> tuple[float, float]:
    """(last evaluation return, env steps at that evaluation); NaNs when never evaluated."""
    evals = progress.dropna(subset=[EVAL_RETURN])
    if evals.empty:
        return math.nan, math.nan
    last = evals.iloc[-1]
    return float(last[EVAL_RETURN]), float(last[ENV_STEPS])


def trial_score(progress: pd.DataFrame, last_k: int) -> float:
    """A trial's score: the mean of its last ``last_k`` evaluation returns (all of them when it has fewer;
    ``last_k`` 1 = the last evaluation, the paper's); NaN when never evaluated."""
    evals = progress[EVAL_RETURN].dropna()
    return float(evals.iloc[-last_k:].mean()) if len(evals) else math.nan


def trial_status(trial: Location, progress: pd.DataFrame, train_steps: int | None) -> str:
    """complete / running / no evaluation yet / no results / error."""
    steps = progress[ENV_STEPS].max() if len(progress) else math.nan
    if train_steps and steps >= train_steps and progress[EVAL_RETURN].notna().any():
        return COMPLETE
    if (Location.of(trial) / "error.txt").exists():
        return ERROR
    if progress.empty:
        return NO_RESULTS
    if progress[EVAL_RETURN].isna().all():
        return NO_EVAL
    return RUNNING


def trial_row(trial: Location, progress: pd.DataFrame, train_steps: int | None = None) -> dict:
    """A trial's configuration, how far it got, its final evaluation return and its status (complete only
    when it reached ``train_steps``)."""
    value, at = final_eval(progress)
    status = trial_status(trial, progress, train_steps)
    return {"trial": Location.of(trial).name, **read_params(trial), "iterations": len(progress),
            ENV_STEPS: progress[ENV_STEPS].max() if len(progress) else math.nan,
            "final_eval": value, "final_eval_step": at, "status": status, "complete": status == COMPLETE,
            WORLD_MODEL_DTYPE: world_model_dtype(progress)}


def world_model_dtype(progress: pd.DataFrame) -> str:
    """The dtype the trial's world model computed in, as its results report it ("" before any result)."""
    reported = progress[WORLD_MODEL_DTYPE].dropna()
    return str(reported.iloc[-1]) if len(reported) else ""


def trial_table(exp: Location) -> pd.DataFrame:
    """One :func:`trial_row` per trial folder of an experiment."""
    rows = [trial_row(trial, read_progress(trial)) for trial in trial_dirs(exp)]
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


# ---------------------------------------------------------------- the best schedule


def summarize(values: pd.Series) -> tuple[float, float, int]:
    """(mean, sample std with ddof 1, count) of the non-missing values; NaN where undefined."""
    values = values.dropna().astype(float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    return mean, std, n


def schedule_groups(trials: pd.DataFrame, by: tuple[str, ...] = (), first: tuple[str, ...] = ()) -> pd.DataFrame:
    """Trials grouped by ``by`` and their schedule (horizon and H_init, H_final, beta; NaN beta = constant):
    mean, std and count ``n`` of the final evaluation returns over the seeds, ``n_trials``, ``n_complete``
    (when the trials have a ``complete`` column) and the first value of each ``first`` column."""
    keys = [*by, *SCHEDULE_GROUP]
    rows = []
    for key, group in trials.groupby(keys, dropna=False, sort=True):
        mean, std, n = summarize(group["final_eval"])
        complete = int(group["complete"].sum()) if "complete" in group else 0
        rows.append({**dict(zip(keys, key)), **{col: group[col].iloc[0] for col in first},
                     "mean": mean, "std": std, "n": n, "n_trials": len(group), "n_complete": complete})
    return pd.DataFrame(rows, columns=[*keys, *first, "mean", "std", "n", "n_trials", "n_complete"])


def best_group(groups: pd.DataFrame) -> pd.Series | None:
    """THE best-schedule rule: the group with the highest mean final evaluation return over its seeds.

    SAC-SVG(H) groups (H > 0) are preferred; H = 0 (SAC) groups count only when there are no others.
    Ties: more evaluated seeds, then the smallest (H, H_init, H_final, beta), a constant schedule (no
    beta) last, so the choice never depends on folder order. None when no group has an evaluation.
    """
    scored = groups.dropna(subset=["mean"])
    svg = scored[scored["horizon"].fillna(1) != 0]
    scored = svg if len(svg) else scored
    if scored.empty:
        return None
    order = ["mean", "n", *SCHEDULE_GROUP]
    return scored.sort_values(order, ascending=[False, False, *[True] * len(SCHEDULE_GROUP)],
                              kind="stable", na_position="last").iloc[0]


def best_schedule(sweep_dir: Location) -> dict[str, Any]:
    """The best group (:func:`best_group`) of a sweep folder: its horizon and schedule fields."""
    best = best_group(schedule_groups(trial_table(sweep_dir)))
    if best is None:
        raise NoResultsError(f"{Location.of(sweep_dir)}: no trial with an evaluation return there")
    return {key: None if _isnan(best[key]) else _plain(best[key]) for key in SCHEDULE_GROUP}


def _plain(value):
    """numpy scalars -> int/float (ints where integral, as in the search space)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _isnan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def print_summary(exp: Location) -> None:
    """After a run: final evaluation return per configuration, best first."""
    groups = schedule_groups(trial_table(exp))
    if groups.empty:
        return
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 300):
        summary = groups.set_index(SCHEDULE_GROUP)[["mean", "std", "n"]].rename(columns={"n": "count"})
        print(f"\nFinal evaluation return per configuration (mean, std over seeds) in {Location.of(exp)}:")
        print(summary.sort_values("mean", ascending=False).to_string())
