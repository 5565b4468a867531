"""The ablations' plots and tables, from their experiment folders (`make ablation` runs this after the trials).

    python -m dashboards.ablations --ablation critic-mve --task Walker2d --budget smoke [--results R] [--out DIR]

- critic-mve (fig. 4 and 6): `critic_mve_returns.png` (evaluation return against env steps, mean ± 1 std over the
  seeds of each arm), `critic_mve_trials.png` (every trial of the two MVE-critic arms: evaluation return and model
  error against env steps, one line per seed), `critic_mve_final.md/.csv` (final return per arm, Welch tests).
- model (fig. 3): `model_errors.png`, the multi-step squared error of each curve (the MLP ensemble's prediction,
  its members' average, the GRU) on the training (dotted), holdout (solid) and test (dashed) splits against the
  episodes seen, mean over the unroll steps (left) and per unroll step after the last chunk (right);
  `model_errors_final.md/.csv`, the same mean after the last chunk per curve and split.

Outputs go to `<results>/tables/<experiment folder name>/` (for a URI, the local results/tables/...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from algorithms.sac_svg.metrics import ENV_STEPS, EVAL_RETURN, MODEL_ERROR
from dashboards.ablation_table import arm_rows, write_table
from dashboards.formats import fmt_steps, to_markdown
from dashboards.plots import _band, _bin_size, _empty_note, _legend, _save, aggregate
from dashboards.tables import default_out
from sweeps.ablation_catalog import (
    CRITIC_MVE,
    MODEL,
    Ablation,
    UnknownArmError,
    ablation_budget,
    ablation_dirname,
    arm_of,
    get_ablation,
    with_arms,
)
from sweeps.layout import SWEEP_FILE
from sweeps.model_ablation import CSV_COLUMNS, CURVES, ERRORS_FILE, SPLITS
from sweeps.results import final_eval, read_progress, trial_config, trial_dirs
from sweeps.storage import Location
from tasks import get_task


def arm_curves(exp: Location, ablation: Ablation) -> pd.DataFrame:
    """Every trial's per-iteration results with its `trial`, `arm` and `seed`; trials of no arm are left out."""
    frames = []
    for trial in trial_dirs(exp):
        config = trial_config(trial)
        arm = arm_of(config, ablation)
        if arm is not None:
            frames.append(read_progress(trial).assign(trial=trial.name, arm=arm, seed=config.get("seed")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[ENV_STEPS, EVAL_RETURN, MODEL_ERROR, "trial", "arm", "seed"])


def final_scores(curves: pd.DataFrame, ablation: Ablation) -> dict[str, np.ndarray]:
    """{arm: each trial's last evaluation return}, every arm present (empty when it has no trials)."""
    by_arm = {arm.name: curves[curves["arm"] == arm.name].groupby("trial") for arm in ablation.arms}
    return {arm: np.array([final_eval(trial)[0] for _, trial in trials]) for arm, trials in by_arm.items()}


def returns_plot(curves: pd.DataFrame, ablation: Ablation, title: str, interval, out: Path) -> Path:
    """Fig. 4: evaluation return against env steps, mean ± 1 std across each arm's seeds."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, arm in enumerate(ablation.arms):
        trials = curves[curves["arm"] == arm.name]
        stats = aggregate(trials, EVAL_RETURN, _bin_size(trials, interval))
        if len(stats):
            _band(ax, stats, f"{arm.name} (n={trials['trial'].nunique()})", colors[i % len(colors)])
    if not ax.lines:
        _empty_note(ax, "no evaluations yet")
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(f"{title}: mean ± 1 std across seeds")
    _legend(ax, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, out / "critic_mve_returns.png")


def _mve_arms(ablation: Ablation) -> list:
    return [arm for arm in ablation.arms if arm.fields.get("critic_mve") == "full"]


def mve_trials_plot(curves: pd.DataFrame, ablation: Ablation, title: str, out: Path) -> Path:
    """Fig. 6: for each MVE-critic arm (rows), every trial's evaluation return and model error (columns)."""
    arms = _mve_arms(ablation)
    fig, axes = plt.subplots(len(arms), 2, figsize=(10, 3.4 * len(arms)), squeeze=False, constrained_layout=True)
    for row, arm in zip(axes, arms):
        trials = curves[curves["arm"] == arm.name]
        for (_, trial), color in zip(trials.groupby("trial"), plt.get_cmap("tab10").colors * 10):
            label = f"seed {trial['seed'].iloc[0]}"
            for ax, column in zip(row, (EVAL_RETURN, MODEL_ERROR)):
                points = trial.dropna(subset=[column])
                ax.plot(points[ENV_STEPS], points[column], color=color, label=label,
                        marker="o" if len(points) < 3 else None)
        for ax, ylabel in zip(row, ("evaluation return", "model error (multi-step MSE)")):
            ax.set_title(arm.name, fontsize=9)
            ax.set_xlabel("env steps")
            ax.set_ylabel(ylabel)
            if not ax.lines:
                _empty_note(ax, "no trials yet")
        if row[1].lines and all((line.get_ydata() > 0).all() for line in row[1].lines if len(line.get_ydata())):
            row[1].set_yscale("log")
        if row[0].lines:
            row[0].legend(fontsize=7)
    fig.suptitle(f"{title}: every trial of the MVE-critic arms", fontsize=10)
    return _save(fig, out / "critic_mve_trials.png")


def model_errors_plot(errors: pd.DataFrame, title: str, out: Path) -> Path:
    """Fig. 3: each curve's multi-step error on the training (dotted), holdout (solid) and test (dashed) splits."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    colors = dict(zip(CURVES, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    styles = {"train": ":", "holdout": "-", "test": "--"}
    last = errors["episodes_seen"].max() if len(errors) else None
    for (curve, split), rows in sorted(errors.groupby(["curve", "split"]), key=lambda group: _order(*group[0])):
        style = dict(linestyle=styles.get(split, "-."), color=colors.get(curve), marker="o", markersize=3,
                     label=f"{CURVES.get(curve, curve)}, {split}")
        mean = rows.groupby("episodes_seen")["error"].mean()
        left.plot(mean.index, mean.values, **style)
        final = rows[rows["episodes_seen"] == last].sort_values("unroll_step")
        right.plot(final["unroll_step"], final["error"], **style)
    left.set_xlabel("episodes added (training + holdout)")
    left.set_ylabel("multi-step squared error (mean over unroll steps)")
    right.set_xlabel("unroll step")
    right.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    right.set_ylabel(f"squared error after {last} episodes")
    for ax in (left, right):
        if ax.lines:
            ax.set_yscale("log")
        else:
            _empty_note(ax, "no scores yet")
    _legend(right, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"{title}: dynamics models on a SAC run's episodes (train dotted, holdout solid, test dashed)",
                 fontsize=10)
    return _save(fig, out / "model_errors.png")


def final_errors(errors: pd.DataFrame) -> pd.DataFrame:
    """After the last chunk: each curve's error, mean over the unroll steps, one column per split."""
    last = errors[errors["episodes_seen"] == errors["episodes_seen"].max()]
    table = last.pivot_table(index="curve", columns="split", values="error", aggfunc="mean")
    table = table.reindex([c for c in CURVES if c in table.index], columns=[s for s in SPLITS if s in table.columns])
    return table.rename_axis(columns=None).reset_index()


def write_model_table(errors: pd.DataFrame, out: Path, title: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / "model_errors_final.md", out / "model_errors_final.csv"
    table = final_errors(errors)
    shown = table.assign(curve=[CURVES.get(c, c) for c in table["curve"]]).round(4)
    md.write_text(f"## {title}: error after the last chunk\n\n{to_markdown(shown)}\n"
                  "Multi-step squared error per state dimension on normalized observations, mean over the unroll "
                  "steps, after the last chunk; lower is better. The ensemble's prediction is the mean of its "
                  "members' trajectories; the members' average scores each member's trajectory alone.\n")
    table.to_csv(csv, index=False)
    return [md, csv]


def _order(curve: str, split: str) -> tuple[int, int]:
    """Legend order: curves as in CURVES, splits as in SPLITS."""
    return (list(CURVES).index(curve) if curve in CURVES else len(CURVES),
            SPLITS.index(split) if split in SPLITS else len(SPLITS))


def write_critic_mve(exp: Location, ablation: Ablation, out: Path, title: str, interval) -> list[Path]:
    """Fig. 4, fig. 6 and the final-return table for the arms the experiment ran (its manifest's `arms`)."""
    curves = arm_curves(exp, ablation)
    rows = arm_rows(final_scores(curves, ablation))
    fig6 = [mve_trials_plot(curves, ablation, title, out)] if _mve_arms(ablation) else []
    return [returns_plot(curves, ablation, title, interval, out), *fig6,
            *write_table(rows, out, "critic_mve_final", f"{title}: final evaluation return per arm")]


def write_model(exp: Location, out: Path, title: str) -> list[Path]:
    path = exp / ERRORS_FILE
    errors = pd.read_csv(path.local) if path.exists() else pd.DataFrame(columns=list(CSV_COLUMNS))
    if "curve" not in errors.columns:
        raise ValueError(f"{path} has no curve column: it was written when the MLP ensemble was scored member by "
                         f"member; fit again into another results folder")
    return [model_errors_plot(errors, title, out), *write_model_table(errors, out, title)]


def write_outputs(results: str, ablation: Ablation, task: str, budget: str, out: Path | None = None) -> list[Path]:
    """The ablation's plots and tables for its experiment folder under `results`."""
    chosen = ablation_budget(ablation, budget).budget
    task = get_task(task)
    name = ablation_dirname(task.file_name, ablation, chosen)
    exp = Location.of(results) / name
    if not (exp / SWEEP_FILE).exists():
        raise FileNotFoundError(f"{exp} is not an ablation folder (no {SWEEP_FILE}): run make ablation first")
    out = Path(out) if out else default_out(results) / name
    manifest = json.loads((exp / SWEEP_FILE).read_text())
    if not isinstance(manifest, dict):
        raise ValueError(f"{exp / SWEEP_FILE} is not an experiment manifest (not a JSON object)")
    title = f"{task.name} {ablation.figure} ({chosen.name}, {fmt_steps(manifest.get('train_steps'))} steps)"
    if ablation is MODEL:
        return write_model(exp, out, title)
    try:
        ran = with_arms(CRITIC_MVE, manifest.get("arms"))
    except UnknownArmError as error:
        raise ValueError(f"{exp / SWEEP_FILE}: {error}") from None
    return write_critic_mve(exp, ran, out, title, chosen.eval_interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ablation", required=True, help="critic-mve or model")
    parser.add_argument("--task", required=True)
    parser.add_argument("--budget", default="paper")
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", type=Path, default=None, help="default: <results>/tables/<experiment folder>")
    args = parser.parse_args(argv)
    try:
        written = write_outputs(args.results, get_ablation(args.ablation), args.task, args.budget, args.out)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        if path.suffix == ".md":
            print(path.read_text())
    print(f"wrote {len(written)} files to {written[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
