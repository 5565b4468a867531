"""The ablation table: final evaluation return per arm (n, mean, sample std), the IQM and mean with 95% stratified
bootstrap intervals (rliable, dashboards.intervals), and Welch's t-test between every two arms, as Markdown and
CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboards.formats import fmt_p, fmt_stat, to_markdown
from dashboards.intervals import Estimate, summarize_arms
from dashboards.stats import welch_p_samples


def arm_rows(scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per arm, in the given order: n (trials with a score), mean, std (ddof 1), the IQM and mean with
    their intervals, and for every other arm the two-sided p-value of Welch's t-test between the two arms' scores
    (NaN below 2 scores in either)."""
    series = {arm: pd.Series(np.asarray(values, dtype=float)).dropna() for arm, values in scores.items()}
    summaries = summarize_arms({arm: values.to_numpy() for arm, values in series.items()})
    rows = []
    for arm, values in series.items():
        row = {"arm": arm, "n": len(values), "mean": values.mean() if len(values) else np.nan,
               "std": values.std(ddof=1) if len(values) > 1 else np.nan} | summaries[arm].columns()
        row |= {f"p vs {other}": np.nan if other == arm else welch_p_samples(values, series[other])
                for other in series}
        rows.append(row)
    return pd.DataFrame(rows)


def display(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as printed: 'mean ± std (n=k)' and formatted p-values ('—' on the diagonal)."""
    stats = [fmt_stat(m, s, n) for m, s, n in zip(rows["mean"], rows["std"], rows["n"])]
    shown = pd.DataFrame({"arm": rows["arm"], "final eval return": stats,
                          "IQM [95% CI]": [Estimate.of_row(r, "iqm").cell() for _, r in rows.iterrows()],
                          "Mean [95% CI]": [Estimate.of_row(r, "score_mean").cell() for _, r in rows.iterrows()]})
    for column in [c for c in rows.columns if c.startswith("p vs ")]:
        other = column.removeprefix("p vs ")
        shown[column] = ["—" if arm == other else fmt_p(p) for arm, p in zip(rows["arm"], rows[column])]
    return shown


def write_table(rows: pd.DataFrame, out: Path, name: str, title: str) -> list[Path]:
    """`<out>/<name>.md` (title, table, how to read it) and `<out>/<name>.csv` (the numbers)."""
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / f"{name}.md", out / f"{name}.csv"
    md.write_text(f"## {title}\n\n{to_markdown(display(rows))}\n"
                  "n = trials with an evaluation; mean ± sample std (ddof 1) of each trial's last evaluation return; "
                  "IQM and mean of the same returns with 95% stratified bootstrap intervals (rliable; no interval "
                  "below 3 trials); p = Welch's t-test (two-sided) between the row's arm and the column's, n/a below "
                  "2 trials.\n")
    rows.to_csv(csv, index=False)
    return [md, csv]
