"""PNG plots of a sweep: learning curves, target entropy schedules, world-model error.

- ``<task>_learning_curves.png``: evaluation return against env steps for the seeds of each Table 2
  cell: the IQM with its 95% stratified bootstrap band (rliable's sample-efficiency curve), or mean
  and +-1 std; the paper's and POPLIN's reported values drawn where they were measured (a point with
  its std at their training length; theirs, labelled so).
- ``aggregate_metrics.png`` and ``performance_profiles.png`` (several tasks): rliable's aggregate
  metrics (IQM, median, mean, optimality gap) and score distributions of the methods' scores
  normalized per task (random policy = 0, the paper's SAC-SVG(H) = 1), with 95% intervals.
- ``<experiment>_entropy_schedules.png``: the target entropy schedules of a sweep, from eq. (14)
  ``H_t = (H_init - H_final) * (1 - t/T) ** beta + H_final`` (constant H_init when beta is
  null), the best one drawn thick, the paper's Table 4 schedule dashed, and the values the trials
  logged as dots.
- ``<task>_model_error.png``: the world model's multi-step error over training.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rliable import plot_utils

from algorithms.sac_svg.metrics import ENV_STEPS, EVAL_RETURN, MODEL_ERROR, TARGET_ENTROPY
from algorithms.sac_svg.temperature import target_entropy
from dashboards import intervals, load, normalization, paper_numbers
from dashboards.formats import fmt_steps
from dashboards.select import members, method_name, schedule_groups, table2_cells, tasks
from sweeps.layout import SWEEP
from sweeps.results import best_group

POINTS = 100  # bins along the step axis for per-iteration metrics
IQM, MEAN_STD = "iqm", "mean-std"
CURVES = (IQM, MEAN_STD)  # how learning curves summarize the seeds


def entropy_schedule(steps: np.ndarray, total: float, init: float, final: float,
                     beta: float | None) -> np.ndarray:
    """Eq. (14) at env steps ``steps`` of ``total``, as the learner computes it."""
    beta = None if beta is None or pd.isna(beta) else float(beta)
    return np.array([target_entropy(step, total, init, final, beta) for step in np.asarray(steps, dtype=float)])


def aggregate(curves: pd.DataFrame, column: str, step: float) -> pd.DataFrame:
    """Mean, std and count of ``column`` across trials, with env steps binned to ``step``.

    Each trial contributes its mean within a bin once, so seeds count equally.
    """
    per_trial = _per_trial(curves, column, step)
    if per_trial.empty:
        return pd.DataFrame(columns=[ENV_STEPS, "mean", "std", "n"])
    stats = per_trial.groupby(ENV_STEPS)[column].agg(["mean", "std", "count"])
    return stats.rename(columns={"count": "n"}).reset_index()


def _per_trial(curves: pd.DataFrame, column: str, step: float) -> pd.DataFrame:
    """Each trial's mean of ``column`` per bin of ``step`` env steps."""
    data = curves.dropna(subset=[column, ENV_STEPS])
    binned = data.assign(env_steps=(data[ENV_STEPS] / step).round() * step)
    return binned.groupby(["trial", ENV_STEPS])[column].mean().reset_index()


def iqm_curve(curves: pd.DataFrame, column: str, step: float, reps: int = intervals.BOOTSTRAP_REPS) -> pd.DataFrame:
    """The IQM of ``column`` across trials per bin of ``step`` env steps, with its 95% stratified bootstrap
    interval (NaN bounds below 3 trials). Bins with the same trials are bootstrapped together, as rliable's
    sample-efficiency curves are; each trial counts once per bin."""
    matrix = _per_trial(curves, column, step).pivot(index="trial", columns=ENV_STEPS, values=column)
    present = matrix.notna()
    rows = []
    for _, group in itertools.groupby(matrix.columns, key=lambda col: tuple(present[col])):
        cols = list(group)
        scores = matrix.loc[present[cols[0]], cols].to_numpy(dtype=float)
        points, lows, highs = intervals.iqm_over_steps(scores, reps)
        rows += [{ENV_STEPS: c, "iqm": p, "low": lo, "high": hi, "n": len(scores)}
                 for c, p, lo, hi in zip(cols, points, lows, highs)]
    return pd.DataFrame(rows, columns=[ENV_STEPS, "iqm", "low", "high", "n"])


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))


def _bin_size(curves: pd.DataFrame, interval) -> float:
    if interval and not pd.isna(interval) and interval > 0:
        return float(interval)
    top = curves[ENV_STEPS].max()
    return max(1.0, math.ceil(top / POINTS)) if not pd.isna(top) else 1.0


def _band(ax, stats: pd.DataFrame, label: str, color) -> None:
    """Mean and +-1 std."""
    std = stats["std"].fillna(0.0)
    _line_and_band(ax, stats[ENV_STEPS], stats["mean"], stats["mean"] - std, stats["mean"] + std, label, color)


def _line_and_band(ax, x, y, low, high, label: str, color) -> None:
    ax.plot(x, y, color=color, label=label, marker="o" if len(x) < 3 else None)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def _empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="gray")


def _legend(ax, **kwargs) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def learning_curves(results: load.Results, task: str, out: Path, curves_as: str = IQM,
                    reps: int = intervals.BOOTSTRAP_REPS) -> Path:
    """Evaluation return against env steps for each Table 2 cell of ``task``: the IQM with its 95% band, or
    (``curves_as`` mean-std) mean ± 1 std; the references as points at the training length they were measured
    at: on the same axes when that is within our curves' reach, else in a panel of their own beside them (so
    that a short run's curves are not squashed into a corner)."""
    exp, by_h, source = table2_cells(results, task)
    curves = results.curves[results.curves["task"] == task]
    refs = {h: [r for r in paper_numbers.references(exp["suite"], (exp["paper_name"], exp["task"]),
                                                    horizon_zero=h == 0).items() if r[1] and r[1].steps]
            for h in by_h}
    reach = REFERENCE_REACH * (curves[ENV_STEPS].max() if curves[ENV_STEPS].notna().any() else 0)
    beyond = any(ref.steps > reach for pairs in refs.values() for _, ref in pairs)
    fig, axes = plt.subplots(1, 2 if beyond else 1, figsize=(8.5 if beyond else 7, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": [4, 1]} if beyond else None)
    ax, side = axes[0][0], axes[0][-1]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for i, horizon in enumerate(by_h):
        color = colors[i % len(colors)]
        trials = by_h[horizon]
        cell, step = _curves_of(curves, trials), _bin_size(curves, exp["eval_interval"])
        label = f"ours: {method_name(horizon)} (n={len(trials)})"
        if curves_as == IQM:
            stats = iqm_curve(cell, EVAL_RETURN, step, reps)
            if len(stats):
                _line_and_band(ax, stats[ENV_STEPS], stats["iqm"], stats["low"], stats["high"], label, color)
        else:
            stats = aggregate(cell, EVAL_RETURN, step)
            if len(stats):
                _band(ax, stats, label, color)
        drawn |= bool(len(stats))
        for kind, ref in refs[horizon]:
            _reference_point(side if ref.steps > reach else ax, ref, kind, color)
    if not drawn:
        _empty_note(ax, "no evaluations yet")
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    summary = "IQM across seeds, 95% bootstrap CI" if curves_as == IQM else "mean ± 1 std across seeds"
    ax.set_title(f"{task} ({exp['budget']}, {source}): {summary}", fontsize=9)
    if beyond:
        side.set_title("reported (own scale)", fontsize=8)
        side.set_xlabel("env steps")
        side.yaxis.tick_right()
        steps = sorted({ref.steps for pairs in refs.values() for _, ref in pairs if ref.steps > reach})
        side.set_xticks(steps, [fmt_steps(x) for x in steps])
        side.margins(x=0.5)
    handles = [h for a in dict.fromkeys((ax, side)) for h in a.get_legend_handles_labels()[0]]
    if handles:
        fig.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    return _save(fig, out / f"{_filename(task)}_learning_curves.png")


REFERENCE_REACH = 1.5  # references measured beyond 1.5x our longest curve go in a panel of their own


def _curves_of(curves: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The per-iteration rows of the given trials."""
    return curves[curves["trial"].isin(trials["trial"]) & curves["experiment"].isin(trials["experiment"])]


def _reference_point(ax, ref: paper_numbers.Reference, kind: str, color) -> None:
    """A reported final value as a point with its std at the training length it was measured at."""
    ax.errorbar([ref.steps], [ref.mean], yerr=[ref.std], color=color, marker={"paper": "D", "poplin": "s"}[kind],
                capsize=4, linestyle="none", markerfacecolor="white",
                label=f"reported: {ref.method}, {ref.mean:.0f} ± {ref.std:.0f} at {ref.steps:,} steps")


def entropy_schedules(results: load.Results, experiment: str, out: Path) -> Path:
    """The sweep's target entropy schedules (eq. 14), best thick, paper's dashed, logged dots."""
    exp = results.experiments.set_index("experiment").loc[experiment]
    trials = results.trials[results.trials["experiment"] == experiment]
    groups = schedule_groups(trials)
    best = best_group(groups)
    total = float(exp["train_steps"] or 1)
    steps = np.linspace(0, total, 200)
    curves = results.curves[results.curves["experiment"] == experiment]
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (index, g) in enumerate(groups.iterrows()):
        is_best = best is not None and index == best.name
        color = "black" if is_best else cmap(i % 20)
        init, final, beta = (g[key] for key in load.SCHEDULE)
        beta = "-" if pd.isna(beta) else f"{beta:g}"
        label = (f"H={g['horizon']:g} init={init:g} final={final:g} beta={beta}"
                 + (" (best)" if is_best else ""))
        ax.plot(steps, entropy_schedule(steps, total, *(g[key] for key in load.SCHEDULE)),
                color=color, linewidth=2.5 if is_best else 1, label=label)
        logged = curves[curves["trial"].isin(members(trials, g)["trial"])]
        ax.scatter(logged[ENV_STEPS], logged[TARGET_ENTROPY], s=6, color=color, alpha=0.6)
    paper = exp["paper_schedule"]
    if isinstance(paper, tuple):
        ax.plot(steps, entropy_schedule(steps, total, *paper), color="red", linestyle="--",
                linewidth=1.5, label=f"paper Table 4 ({exp['paper_name']})")
    if groups.empty:
        _empty_note(ax, "no trials yet")
    ax.set_xlabel("env steps")
    ax.set_ylabel("target entropy")
    ax.set_title(f"{experiment}: target entropy schedules (eq. 14); dots = logged")
    _legend(ax, fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, out / f"{_filename(experiment)}_entropy_schedules.png")


def model_error(results: load.Results, task: str, out: Path) -> Path:
    """The world model's multi-step error against env steps, per Table 2 cell."""
    _, by_h, source = table2_cells(results, task)
    curves = results.curves[results.curves["task"] == task]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    positive = True
    for i, horizon in enumerate(by_h):
        trials = by_h[horizon]
        subset = _curves_of(curves, trials)
        stats = aggregate(subset, MODEL_ERROR, _bin_size(subset, None))
        if len(stats):
            _band(ax, stats, f"{method_name(horizon)} (n={len(trials)})", colors[i % len(colors)])
            positive &= bool((stats["mean"] > 0).all())
    if not ax.lines:
        _empty_note(ax, "no model error logged yet")
    elif positive:
        ax.set_yscale("log")
    ax.set_xlabel("env steps")
    ax.set_ylabel("world model multi-step MSE")
    ax.set_title(f"{task} ({source}): model error, mean ± 1 std across seeds")
    _legend(ax, fontsize=7)
    return _save(fig, out / f"{_filename(task)}_model_error.png")


def aggregate_metrics(normalized: dict[str, np.ndarray], task_names: list[str], out: Path,
                      reps: int = intervals.BOOTSTRAP_REPS, left_out: list[str] = ()) -> Path:
    """rliable's aggregate metrics of the normalized scores, each with its 95% stratified bootstrap interval."""
    points, cis = intervals.aggregate_estimates(normalized, reps)
    fig, _ = plot_utils.plot_interval_estimates(points, cis, metric_names=list(intervals.AGGREGATE_METRICS),
                                                algorithms=list(normalized), xlabel=NORMALIZED_LABEL,
                                                row_height=0.8, xlabel_y_coordinate=-0.45 / len(normalized))
    fig.suptitle(_over(normalized, task_names, left_out), y=1 + 0.5 / len(normalized), fontsize=12)
    return _save(fig, out / "aggregate_metrics.png")


def performance_profiles(normalized: dict[str, np.ndarray], task_names: list[str], out: Path,
                         reps: int = intervals.BOOTSTRAP_REPS, left_out: list[str] = ()) -> Path:
    """rliable's score distributions (fraction of runs above tau) of the normalized scores, with 95% bands."""
    everything = np.concatenate([m.ravel() for m in normalized.values()])
    taus = np.linspace(min(0.0, everything.min()), max(1.25, everything.max()), 101)
    profiles, cis = intervals.performance_profiles(normalized, taus, reps)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                         xlabel=f"{NORMALIZED_LABEL} (tau)", ylabel="fraction of runs with score > tau")
    ax.legend(fontsize=8)
    ax.set_title(_over(normalized, task_names, left_out), fontsize=9)
    return _save(fig, out / "performance_profiles.png")


NORMALIZED_LABEL = "normalized score (random policy = 0, paper's SAC-SVG(H) = 1)"


def _over(normalized: dict[str, np.ndarray], task_names: list[str], left_out: list[str] = ()) -> str:
    runs = ", ".join(f"{method}: {m.shape[0]}" for method, m in normalized.items())
    unscaled = f"; left out, with no random or paper score to scale by: {', '.join(left_out)}" if left_out else ""
    return f"over {len(task_names)} tasks ({', '.join(task_names)}); trials per task: {runs}{unscaled}"


def write_plots(results: load.Results, out: Path, curves_as: str = IQM,
                reps: int = intervals.BOOTSTRAP_REPS) -> list[Path]:
    """All plots for the experiments in ``results``; returns the paths written."""
    out = Path(out)
    written = []
    for task in tasks(results):
        written.append(learning_curves(results, task, out, curves_as, reps))
        written.append(model_error(results, task, out))
    for _, exp in results.experiments.iterrows():
        if exp["mode"] == SWEEP:
            written.append(entropy_schedules(results, exp["experiment"], out))
    normalized, task_names = normalization.normalized_scores(results)
    if normalized:
        left_out = normalization.unscaled_tasks(results)
        written.append(aggregate_metrics(normalized, task_names, out, reps, left_out))
        written.append(performance_profiles(normalized, task_names, out, reps, left_out))
    return written
