"""Which trials make up each table cell: statistics, schedule groups, the best schedule.

Shared by the tables and the plots so that a learning curve shows exactly the trials of its
table cell.
"""

from __future__ import annotations

import pandas as pd

from dashboards import load
from sweeps import results as results_reader
from sweeps.layout import REPRODUCE, SWEEP
from sweeps.results import SCHEDULE_GROUP, best_group

GROUP = ["task", *SCHEDULE_GROUP]
FROM_REPRODUCE = REPRODUCE  # Table 2 from the task's reproduce folder
FROM_SWEEP = "sweep (best schedule's seeds)"


def schedule_groups(trials: pd.DataFrame) -> pd.DataFrame:
    """Sweep trials grouped by task, horizon and schedule: final-eval statistics per group."""
    return results_reader.schedule_groups(trials[trials["mode"] == SWEEP], by=("task",), first=("experiment",))


def members(trials: pd.DataFrame, group: pd.Series) -> pd.DataFrame:
    """The sweep trials of one schedule group (NaN matches NaN: beta null = constant)."""
    mask = trials["mode"] == SWEEP
    for col in GROUP:
        value = group[col]
        mask &= trials[col].isna() if pd.isna(value) else trials[col] == value
    return trials[mask]


def table2_trials(trials: pd.DataFrame, task: str) -> tuple[dict[float, pd.DataFrame], str]:
    """The trials behind each Table 2 row of a task, keyed by horizon, and where they come from.

    From the task's reproduce folder when there is one (each horizon it ran); otherwise the best
    schedule's seeds of its sweep, per horizon. The H = 0 baseline is always present, possibly
    with no trials, so that a missing baseline shows in the table.
    """
    trials = trials[trials["task"] == task]
    reproduce = trials[trials["mode"] == REPRODUCE]
    if len(reproduce):
        by_h = dict(iter(reproduce.groupby("horizon", dropna=False)))
        return {0.0: reproduce.iloc[:0], **by_h}, FROM_REPRODUCE
    chosen = {0.0: trials.iloc[:0]}
    for h, h_groups in schedule_groups(trials).groupby("horizon", dropna=False):
        best = best_group(h_groups)
        if best is not None:
            chosen[h] = members(trials, best)
    return chosen, FROM_SWEEP


def method_name(horizon: float) -> str:
    """'SAC (H=0)' for the baseline, 'SAC-SVG(H=2)' otherwise."""
    if pd.isna(horizon):
        return "SAC-SVG(H=?)"
    return "SAC (H=0)" if horizon == 0 else f"SAC-SVG(H={horizon:g})"


def tasks(results: load.Results, mode: str | None = None) -> list[str]:
    """The tasks with an experiment folder (of ``mode``), whether or not it has trials yet."""
    exps = results.experiments
    if exps.empty:
        return []
    return sorted(exps.loc[exps["mode"] == mode if mode else slice(None), "task"].unique())


def experiment_of(results: load.Results, task: str, mode: str) -> pd.Series:
    """The task's experiment of ``mode`` (the last given), else any of the task's experiments."""
    exps = results.experiments[results.experiments["task"] == task]
    match = exps[exps["mode"] == mode]
    return (match if len(match) else exps).iloc[-1]


def planned_horizon(exp: pd.Series) -> float:
    """The SAC-SVG(H) horizon an experiment was started with (sweep.json), else the paper's 2."""
    horizon = exp.get("horizon")
    return 2.0 if horizon is None or pd.isna(horizon) or horizon == 0 else float(horizon)


def table2_cells(results: load.Results, task: str):
    """(experiment row, {horizon: trials}, source) of a task's Table 2 rows.

    Both the SAC baseline and a SAC-SVG(H) row are always there, possibly without trials.
    """
    by_h, source = table2_trials(results.trials, task)
    exp = experiment_of(results, task, REPRODUCE if source == FROM_REPRODUCE else SWEEP)
    if not any(h != 0 for h in by_h):
        by_h[planned_horizon(exp)] = results.trials.iloc[:0]
    return exp, dict(sorted(by_h.items(), key=lambda kv: (pd.isna(kv[0]), kv[0]))), source
