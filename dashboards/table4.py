"""Table 4, regenerated: per task, the sweep's best target-entropy schedule (sweeps.results.best_group, the
rule `make reproduce --from-sweep` follows) beside the paper's Table 4 and the official code's per-task
schedule ("—" for a task the official code has no config for)."""

from __future__ import annotations

import math

import pandas as pd

from dashboards import load
from dashboards.formats import INCOMPLETE, fmt_num, fmt_stat, task_label
from dashboards.intervals import ARM_COLUMNS, BOOTSTRAP_REPS, Estimate, summarize_arms
from dashboards.select import experiment_of, members, schedule_groups, tasks
from dashboards.stats import completeness_note, incomplete, length_note
from sweeps.layout import SWEEP
from sweeps.results import best_group, summarize


def table4(results: load.Results, reps: int = BOOTSTRAP_REPS) -> pd.DataFrame:
    """Per task with a sweep: the best schedule (ours) beside the paper's Table 4 schedule and the official one,
    with the IQM and mean of its trials' scores and their intervals."""
    groups = schedule_groups(results.trials)
    rows = []
    for task in tasks(results, SWEEP):
        exp = experiment_of(results, task, SWEEP)
        task_groups = groups[groups["task"] == task]
        best = best_group(task_groups)
        paper = exp["paper_schedule"]
        row = {"task": task, "paper_name": exp["paper_name"], "experiment": exp["experiment"],
               "configs": len(task_groups), "train_steps": exp["train_steps"], "score_rule": exp["score_rule"]}
        best_trials = results.trials.iloc[:0] if best is None else members(results.trials, best)
        row.update(summarize_arms({"best": best_trials["score"]}, reps)["best"].columns())
        row["score_std"] = summarize(best_trials["score"])[1]
        if best is None:
            row.update(horizon=math.nan, **dict.fromkeys(load.SCHEDULE, math.nan), mean=math.nan, std=math.nan, n=0,
                       n_trials=int(task_groups["n_trials"].sum()), n_complete=0)
        else:
            row.update({k: best[k] for k in ["horizon", *load.SCHEDULE, "mean", "std", "n",
                                             "n_trials", "n_complete"]})
        row.update(_paper_schedule(paper))
        row.update(_paper_schedule(_official_schedule(task), prefix="official_"))
        row["matches_paper"] = _same_schedule(row)
        row["matches_official"] = _same_schedule(row, "official_")
        row["incomplete"] = incomplete(row["n"], row["n_trials"], row["n_complete"])
        notes = [completeness_note(row["n"], row["n_trials"], row["n_complete"],
                                    row["train_steps"]),
                 length_note(row["train_steps"], exp["registry_train_steps"]), exp["score_rule"]]
        row["note"] = "; ".join(x for x in notes if x)
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE4_COLUMNS)


TABLE4_COLUMNS = [
    "task", "paper_name", "experiment", "horizon", *load.SCHEDULE, "mean", "std",
    "n", "n_trials", "n_complete", "configs", "train_steps", "score_rule", *ARM_COLUMNS, "score_std",
    *(f"paper_{key}" for key in load.SCHEDULE),
    *(f"official_{key}" for key in load.SCHEDULE), "matches_paper", "matches_official", "incomplete", "note",
]


def _official_schedule(task: str) -> tuple | None:
    """The official code's schedule of the task (tasks registry), None when it has none."""
    try:
        from tasks import registered_task

        schedule = getattr(registered_task(task), "official_schedule", None)
    except ImportError:
        return None
    return None if schedule is None else tuple(getattr(schedule, key) for key in load.SCHEDULE)


def _paper_schedule(paper, prefix: str = "paper_") -> dict:
    if paper is None or (isinstance(paper, float) and math.isnan(paper)):
        paper = (math.nan,) * len(load.SCHEDULE)
    return {f"{prefix}{key}": math.nan if value is None else float(value) for key, value in zip(load.SCHEDULE, paper)}


def _same_schedule(row: dict, prefix: str = "paper_") -> bool | None:
    ours = [row[key] for key in load.SCHEDULE]
    paper = [row[f"{prefix}{key}"] for key in load.SCHEDULE]
    if pd.isna(paper[0]) or pd.isna(ours[0]):
        return None
    return all((pd.isna(a) and pd.isna(b)) or a == b for a, b in zip(ours, paper))


SCORE_COLUMN = "Score mean ± std"  # over the best schedule's trials, as the IQM and Mean columns


def display_table4(t4: pd.DataFrame) -> pd.DataFrame:
    """Table 4 as printed: our best schedule beside the paper's. Every return it shows is a trial score by the
    one score rule its notes name (the best schedule is chosen by sweeps.results.best_group, as `make reproduce
    --from-sweep` chooses it)."""
    rows = []
    for _, r in t4.iterrows():
        score = fmt_stat(r["score_mean"], r["score_std"], r["n"]) + (f" {INCOMPLETE}" if r["incomplete"] else "")
        rows.append({
            "Task": task_label(r["task"], r["paper_name"]), "H": fmt_num(r["horizon"]),
            "Ours H_init": fmt_num(r["target_entropy_init"]),
            "Ours H_final": fmt_num(r["target_entropy_final"]),
            "Ours beta": fmt_num(r["target_entropy_beta"]), SCORE_COLUMN: score,
            "IQM [95% CI]": Estimate.of_row(r, "iqm").cell(), "Mean [95% CI]": Estimate.of_row(r, "score_mean").cell(),
            "Configs": int(r["configs"]),
            **_displayed_schedule(r, "paper_", "Paper"),
            "Same as paper": {True: "yes", False: "no"}.get(r["matches_paper"], "—"),
            **_displayed_schedule(r, "official_", "Official"),
            "Same as official": {True: "yes", False: "no"}.get(r["matches_official"], "—"),
            "Notes": r["note"],
        })
    return pd.DataFrame(rows, columns=["Task", "H", "Ours H_init", "Ours H_final", "Ours beta",
                                       SCORE_COLUMN, "IQM [95% CI]", "Mean [95% CI]", "Configs",
                                       "Paper H_init",
                                       "Paper H_final", "Paper beta", "Same as paper", "Official H_init",
                                       "Official H_final", "Official beta", "Same as official", "Notes"])


def _displayed_schedule(r, prefix: str, heading: str) -> dict:
    """H_init, H_final, beta under `heading`; "—" throughout when there is no such schedule."""
    if pd.isna(r[f"{prefix}target_entropy_init"]):
        return dict.fromkeys((f"{heading} H_init", f"{heading} H_final", f"{heading} beta"), "—")
    return {f"{heading} H_init": fmt_num(r[f"{prefix}target_entropy_init"]),
            f"{heading} H_final": fmt_num(r[f"{prefix}target_entropy_final"]),
            f"{heading} beta": fmt_num(r[f"{prefix}target_entropy_beta"])}
