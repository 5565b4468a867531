"""Table 2, regenerated: per task and method, the final evaluation return (mean ± std, the paper's format)
beside the paper's and POPLIN's reported numbers with Welch's t-test against each; the IQM and mean of the
trials' scores with 95% stratified bootstrap intervals; SAC-SVG(H)'s probability of improvement over the SAC
trials of the same run, per task and (``poi_table``) over the tasks present."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from algorithms.sac_svg.metrics import WORLD_MODEL_DTYPE
from dashboards import load, normalization, paper_numbers
from dashboards.formats import INCOMPLETE, REDUCED, fmt_p, fmt_stat, fmt_steps, task_label
from dashboards.intervals import (
    ARM_COLUMNS,
    BOOTSTRAP_REPS,
    Estimate,
    estimate_columns,
    is_reduced,
    probability_of_improvement,
    runs_matrix,
    summarize_arms,
)
from dashboards.paper_numbers import Reference
from dashboards.select import FROM_REPRODUCE, method_name, table2_cells, tasks
from dashboards.stats import completeness_note, incomplete, length_note, welch_p
from sweeps.budgets import BUDGETS
from sweeps.results import summarize


def table2(results: load.Results, reps: int = BOOTSTRAP_REPS) -> pd.DataFrame:
    """Per task and method: ours (mean, std, n) beside the paper and POPLIN, with p-values; the IQM and mean
    of the scores with intervals; SAC-SVG(H)'s probability of improvement over our SAC trials of the run."""
    rows = []
    for task in tasks(results):
        exp, by_h, source = table2_cells(results, task)
        summaries = summarize_arms({h: trials["score"] for h, trials in by_h.items()}, reps)
        for horizon, trials in by_h.items():
            poi = (probability_of_improvement(trials["score"], by_h[0.0]["score"], reps) if horizon
                   else Estimate(math.nan, math.nan, math.nan, 0))
            rows.append(_table2_row(exp, horizon, trials, source) | summaries[horizon].columns()
                        | poi.columns("poi_vs_our_sac"))
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


TABLE2_COLUMNS = [
    "task", "paper_name", "suite", "method", "horizon", "source", "experiment", "budget", "reduced", "train_steps",
    "mean", "std", "n", "n_trials", "n_complete", "incomplete",
    "paper_method", "paper_mean", "paper_std", "paper_n", "paper_steps", "paper_source",
    "p_vs_paper", "poplin_method", "poplin_mean", "poplin_std", "poplin_n", "p_vs_poplin", "score_rule", *ARM_COLUMNS,
    *estimate_columns("poi_vs_our_sac"), "random_return", "normalization_high", "note",
]


def _table2_row(exp: pd.Series, horizon: float, trials: pd.DataFrame, source: str) -> dict:
    mean, std, n = summarize(trials["final_eval"])
    n_trials, n_complete = len(trials), int(trials["complete"].sum())
    names = (exp["paper_name"], exp["task"])
    refs = paper_numbers.references(exp["suite"], names, horizon_zero=horizon == 0)
    paper, poplin = refs["paper"], refs["poplin"]
    reduced = reduced_note(exp["budget"])
    notes = [reduced, completeness_note(n, n_trials, n_complete, exp["train_steps"])]
    if source != FROM_REPRODUCE:
        notes.append(f"from the {source}")
    notes.append(length_note(exp["train_steps"], paper.steps if paper else None))
    notes.append(exp["score_rule"])
    notes.append(dtype_note(horizon, trials))
    random_return = normalization.RANDOM_RETURNS.get(exp["task"], math.nan)
    high = normalization.paper_value(exp["suite"], names)
    notes.append(normalization.note(random_return, high))
    return {
        "task": exp["task"], "paper_name": exp["paper_name"], "suite": exp["suite"],
        "method": method_name(horizon), "horizon": horizon, "source": source,
        "experiment": exp["experiment"], "budget": exp["budget"], "reduced": bool(reduced),
        "train_steps": exp["train_steps"],
        "mean": mean, "std": std, "n": n, "n_trials": n_trials, "n_complete": n_complete,
        "incomplete": incomplete(n, n_trials, n_complete),
        **_reference_columns("paper", paper), "paper_steps": paper.steps if paper else math.nan,
        "paper_source": paper.source if paper else "",
        "p_vs_paper": welch_p(mean, std, n, paper),
        **_reference_columns("poplin", poplin), "p_vs_poplin": welch_p(mean, std, n, poplin),
        "score_rule": exp["score_rule"], "random_return": random_return, "normalization_high": high,
        "note": "; ".join(x for x in notes if x),
    }


def dtype_note(horizon: float, trials: pd.DataFrame) -> str:
    """Which of a model-based cell's trials computed their world model in another dtype than float32."""
    other = trials[WORLD_MODEL_DTYPE][~trials[WORLD_MODEL_DTYPE].isin(["float32", ""])].dropna()
    if not horizon or other.empty:
        return ""
    return f"world model in {'/'.join(sorted(set(other)))}, not float32, in {len(other)} of {len(trials)} trials"


def reduced_note(budget: str) -> str:
    """The network and batch sizes of a reduced budget (Table 3: 512 units, batches 512/1024); empty for the
    paper budget. Its shorter length is the length note's."""
    if not is_reduced(budget):
        return ""
    sizes = BUDGETS[budget].rllib["training"]
    return (f"reduced budget '{budget}': {sizes['hidden_dim']}-unit networks, batches "
            f"{sizes['batch_size']}/{sizes['seq_batch_size']}")


def _reference_columns(prefix: str, ref: Reference | None) -> dict:
    if ref is None:
        return {f"{prefix}_method": "", f"{prefix}_mean": math.nan, f"{prefix}_std": math.nan,
                f"{prefix}_n": math.nan}
    return {f"{prefix}_method": ref.method, f"{prefix}_mean": ref.mean, f"{prefix}_std": ref.std,
            f"{prefix}_n": ref.n}


def display_table2(t2: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as printed: ours, the paper and POPLIN (reported) side by side."""
    rows = []
    for _, r in t2.iterrows():
        ours = fmt_stat(r["mean"], r["std"], r["n"]) + (f" {INCOMPLETE}" if r["incomplete"] else "")
        rows.append({
            "Task": task_label(r["task"], r["paper_name"]),
            "Method": r["method"],
            "Steps": fmt_steps(r["train_steps"]) + (f" {REDUCED}" if r["reduced"] else ""),
            "Ours": ours,
            "Paper": _ref_cell(r, "paper"),
            "p vs paper": fmt_p(r["p_vs_paper"]),
            "POPLIN (reported)": _ref_cell(r, "poplin"),
            "p vs POPLIN": fmt_p(r["p_vs_poplin"]),
            "IQM [95% CI]": Estimate.of_row(r, "iqm").cell(),
            "Mean [95% CI]": Estimate.of_row(r, "score_mean").cell(),
            "P(> our SAC) [95% CI]": Estimate.of_row(r, "poi_vs_our_sac").cell(".2f") if r["horizon"] else "—",
            "Notes": r["note"],
        })
    return pd.DataFrame(rows, columns=["Task", "Method", "Steps", "Ours", "Paper", "p vs paper",
                                       "POPLIN (reported)", "p vs POPLIN", "IQM [95% CI]", "Mean [95% CI]",
                                       "P(> our SAC) [95% CI]", "Notes"])


def _ref_cell(r: pd.Series, prefix: str) -> str:
    if not r[f"{prefix}_method"]:
        return "—"
    label = r[f"{prefix}_method"]
    return f"{label}: {fmt_stat(r[f'{prefix}_mean'], r[f'{prefix}_std'], r[f'{prefix}_n'])}"


def poi_table(results: load.Results, reps: int = BOOTSTRAP_REPS) -> pd.DataFrame:
    """Per SAC-SVG(H) horizon: its probability of improvement over the SAC trials of the same runs, over the
    tasks that have scores for both (each task weighs the same)."""
    scores: dict[float, dict[str, np.ndarray]] = {}
    for task in tasks(results):
        _, by_h, _ = table2_cells(results, task)
        for horizon, trials in by_h.items():
            values = trials["score"].dropna().to_numpy(dtype=float)
            if len(values):
                scores.setdefault(horizon, {})[task] = values
    sac = scores.get(0.0, {})
    rows = []
    for horizon in sorted(h for h in scores if h != 0 and not pd.isna(h)):
        both = sorted(set(scores[horizon]) & set(sac))
        rows.append(_poi_row(horizon, both, [scores[horizon][t] for t in both], [sac[t] for t in both], reps))
    return pd.DataFrame(rows, columns=POI_COLUMNS)


POI_COLUMNS = ["comparison", "horizon", "tasks", "n_tasks", "runs_svg", "runs_sac", *estimate_columns("poi"), "note"]


def _poi_row(horizon: float, task_names: list[str], svg: list[np.ndarray], sac: list[np.ndarray], reps: int) -> dict:
    """rliable needs the same number of trials in every task: each method's first k per task, k its fewest."""
    x, y = runs_matrix(svg), runs_matrix(sac)
    runs_svg, runs_sac = len(x), len(y)
    poi = probability_of_improvement(x, y, reps)
    trimmed = any(len(a) > runs_svg for a in svg) or any(len(a) > runs_sac for a in sac)
    notes = [poi.note, "each method's first trials per task, as many as its fewest task has" if trimmed else ""]
    return {"comparison": f"{method_name(horizon)} vs {method_name(0.0)}", "horizon": horizon,
            "tasks": ", ".join(task_names), "n_tasks": len(task_names), "runs_svg": runs_svg, "runs_sac": runs_sac,
            **poi.columns("poi"), "note": "; ".join(x for x in notes if x)}


def display_poi(poi: pd.DataFrame) -> pd.DataFrame:
    """The aggregate probability of improvement as printed."""
    rows = [{"Comparison": r["comparison"], "Tasks": r["tasks"] or "—",
             "Trials per task (SVG / SAC)": f"{r['runs_svg']} / {r['runs_sac']}",
             "P(improvement) [95% CI]": Estimate.of_row(r, "poi").cell(".2f"), "Notes": r["note"]}
            for _, r in poi.iterrows()]
    return pd.DataFrame(rows, columns=["Comparison", "Tasks", "Trials per task (SVG / SAC)",
                                       "P(improvement) [95% CI]", "Notes"])
