"""Statistics of a table cell: Welch's t-test against a reference, and whether the cell is complete."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from dashboards.formats import fmt_steps
from dashboards.paper_numbers import PAPER_TRIALS, Reference


def welch_p(mean: float, std: float, n: int, ref: Reference | None) -> float:
    """Two-sided p-value of Welch's t-test from summary statistics; NaN when it is undefined."""
    if ref is None or n < 2 or not np.isfinite([mean, std]).all():
        return math.nan
    if std == 0 and ref.std == 0:
        return math.nan
    with np.errstate(all="ignore"):
        result = stats.ttest_ind_from_stats(mean, std, n, ref.mean, ref.std, ref.n,
                                            equal_var=False)
    return float(result.pvalue)


def incomplete(n: int, n_trials: int, n_complete: int) -> bool:
    return n < PAPER_TRIALS or n_complete < n_trials or n < n_trials


def completeness_note(n: int, n_trials: int, n_complete: int, train_steps) -> str:
    if n_trials == 0:
        return "no trials"
    parts = []
    if n < PAPER_TRIALS:
        parts.append(f"{n} of {PAPER_TRIALS} trials")
    if n_complete < n_trials:
        parts.append(f"{n_trials - n_complete} of {n_trials} not at {fmt_steps(train_steps)} steps")
    if n < n_trials:
        parts.append(f"{n_trials - n} without an evaluation")
    return ", ".join(parts)


def length_note(train_steps, reference_steps) -> str:
    """Says when our training length differs from the reference's (e.g. a smoke budget)."""
    if not reference_steps or pd.isna(reference_steps) or train_steps == reference_steps:
        return ""
    return f"trained {fmt_steps(train_steps)} steps, reference {fmt_steps(reference_steps)}"
