"""The results reader: one row per trial of an experiment folder (its config and evaluation returns), the
best schedule of a sweep (Table 2's choice), and the summary printed after a run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from algorithms.sac_svg.metrics import ENV_STEPS, EVAL_RETURN
from sweeps import search_space as spaces


class NoResultsError(ValueError):
    pass


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
        evals = frame[EVAL_RETURN].dropna() if EVAL_RETURN in frame else pd.Series(dtype=float)
        row[ENV_STEPS] = int(frame[ENV_STEPS].iloc[-1]) if ENV_STEPS in frame and len(frame) else 0
        row["final_eval_return"] = evals.iloc[-1] if len(evals) else math.nan
        row["best_eval_return"] = evals.max() if len(evals) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def best_schedule(sweep_dir: Path) -> dict[str, Any]:
    """Table 2's choice: the schedule with the highest mean final evaluation return over its seeds."""
    table = trial_table(sweep_dir)
    if table.empty or table["final_eval_return"].isna().all():
        raise NoResultsError(f"{sweep_dir}: no trial with an evaluation return there")
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


def print_summary(exp_dir: Path) -> None:
    table = trial_table(exp_dir)
    if table.empty:
        return
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 300):
        columns = ["horizon", *spaces.TARGET_ENTROPY_KEYS]
        summary = table.groupby(columns, dropna=False)["final_eval_return"].agg(["mean", "std", "count"])
        print(f"\nFinal evaluation return per configuration (mean, std over seeds) in {exp_dir}:")
        print(summary.sort_values("mean", ascending=False).to_string())
