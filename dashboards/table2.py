"""Table 2, regenerated: per task and method, the final evaluation return beside the paper's and POPLIN's
reported numbers, with Welch's t-test against each."""

from __future__ import annotations

import math

import pandas as pd

from dashboards import load, paper_numbers
from dashboards.formats import INCOMPLETE, REDUCED, fmt_p, fmt_stat, fmt_steps, task_label
from dashboards.paper_numbers import Reference
from dashboards.select import FROM_REPRODUCE, method_name, table2_cells, tasks
from dashboards.stats import completeness_note, incomplete, length_note, welch_p, welch_p_samples
from sweeps.budgets import BUDGETS, PAPER
from sweeps.results import summarize


def table2(results: load.Results) -> pd.DataFrame:
    """Per task and method: ours (mean, std, n) beside the paper and POPLIN, with p-values, and SAC-SVG(H)
    against our own SAC trials of the same run."""
    rows = []
    for task in tasks(results):
        exp, by_h, source = table2_cells(results, task)
        sac = by_h.get(0.0)
        for horizon in by_h:
            ours_vs_sac = horizon and sac is not None
            p_vs_sac = welch_p_samples(by_h[horizon]["final_eval"], sac["final_eval"]) if ours_vs_sac else math.nan
            rows.append(_table2_row(exp, horizon, by_h[horizon], source) | {"p_vs_our_sac": p_vs_sac})
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


TABLE2_COLUMNS = [
    "task", "paper_name", "suite", "method", "horizon", "source", "experiment", "budget", "reduced", "train_steps",
    "mean", "std", "n", "n_trials", "n_complete", "incomplete",
    "paper_method", "paper_mean", "paper_std", "paper_n", "paper_steps", "paper_source",
    "p_vs_paper", "poplin_method", "poplin_mean", "poplin_std", "poplin_n", "p_vs_poplin", "p_vs_our_sac",
    "note",
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
        "note": "; ".join(x for x in notes if x),
    }


def reduced_note(budget: str) -> str:
    """The network and batch sizes of a reduced budget (Table 3: 512 units, batches 512/1024); empty for the
    paper budget. Its shorter length is the length note's."""
    if budget not in BUDGETS or budget == PAPER.name:
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
            "p vs our SAC": fmt_p(r["p_vs_our_sac"]),
            "Notes": r["note"],
        })
    return pd.DataFrame(rows, columns=["Task", "Method", "Steps", "Ours", "Paper", "p vs paper",
                                       "POPLIN (reported)", "p vs POPLIN", "p vs our SAC", "Notes"])


def _ref_cell(r: pd.Series, prefix: str) -> str:
    if not r[f"{prefix}_method"]:
        return "—"
    label = r[f"{prefix}_method"]
    return f"{label}: {fmt_stat(r[f'{prefix}_mean'], r[f'{prefix}_std'], r[f'{prefix}_n'])}"
