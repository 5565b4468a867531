"""Interval estimates over trials (Agarwal et al., 2021, "Deep RL at the edge of the statistical precipice"),
computed by rliable: the interquartile mean (IQM) and the mean of the trials' scores, each with a 95%
stratified bootstrap confidence interval, and the probability of improvement of one method over another.

A trial's score is :class:`ScoreRule`'s: its last evaluation return (the paper's) or the mean of its last
k evaluation returns (the default for reduced budgets, where single evaluations are noisy).

For any table of arms (methods, ablations): ``summarize_arms({arm: scores})`` gives each arm's IQM and
mean with their intervals; an arm with fewer than :data:`MIN_TRIALS` trials gets the point estimates and
a note saying why there is no interval.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass

import arch.bootstrap as arch_bootstrap
import numpy as np
from rliable import library as rly
from rliable import metrics

from sweeps.budgets import BUDGETS, PAPER

CONFIDENCE = 0.95
MIN_TRIALS = 3  # fewer trials than this: a point estimate, no interval
BOOTSTRAP_REPS = 2000  # bootstrap resamples per interval
SEED = 0  # the bootstrap's seed: the same trials give the same intervals
REDUCED_LAST_K = 3  # the score of a reduced-budget trial: the mean of its last 3 evaluations


# ---------------------------------------------------------------- rliable 1.2.0 on arch >= 8


def _seed_keyword(init):
    """rliable 1.2.0 passes arch's bootstraps ``random_state=``; arch 8 renamed it ``seed``."""
    @functools.wraps(init)
    def wrapped(self, *args, random_state=None, **kwargs):
        if random_state is not None:
            kwargs["seed"] = random_state
        init(self, *args, **kwargs)
    return wrapped


for _bootstrap in (arch_bootstrap.IIDBootstrap, arch_bootstrap.IndependentSamplesBootstrap):
    if "random_state" not in inspect.signature(_bootstrap.__init__).parameters:
        _bootstrap.__init__ = _seed_keyword(_bootstrap.__init__)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """rliable resamples with NumPy's global generator: seed it for the call, then put its state back."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


# ---------------------------------------------------------------- the score of a trial


def is_reduced(budget: str) -> bool:
    """A budget smaller than the paper's (sweeps.budgets: short, smoke)."""
    return budget in BUDGETS and budget != PAPER.name


@dataclass(frozen=True)
class ScoreRule:
    """Which evaluations make a trial's score: the mean of its last ``last_k`` (1 = the last evaluation, the
    paper's); ``None`` = automatic: the last for the paper budget, the mean of the last
    :data:`REDUCED_LAST_K` for reduced budgets."""

    last_k: int | None = None

    def __post_init__(self):
        if self.last_k is not None and self.last_k < 1:
            raise ValueError(f"a score needs at least one evaluation, got last_k={self.last_k}")

    def k(self, budget: str) -> int:
        if self.last_k is not None:
            return self.last_k
        return REDUCED_LAST_K if is_reduced(budget) else 1

    def describe(self, budget: str) -> str:
        k = self.k(budget)
        return "score = the last evaluation" if k == 1 else f"score = mean of the last {k} evaluations"

    def __str__(self) -> str:
        return {None: "auto", 1: "last"}.get(self.last_k, f"mean-last-{self.last_k}")

    @classmethod
    def parse(cls, text: str) -> ScoreRule:
        """``auto``, ``last`` or ``mean-last-K`` (K >= 1), as the tables command takes it."""
        if text == "auto":
            return cls()
        if text == "last":
            return cls(1)
        match = re.fullmatch(r"mean-last-([1-9][0-9]*)", text)
        if match is None:
            raise ValueError(f"score rule {text!r}: expected auto, last or mean-last-K (e.g. mean-last-3)")
        return cls(int(match.group(1)))


AUTO_SCORE = ScoreRule()


# ---------------------------------------------------------------- interval estimates


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (NaN bounds when there is none: ``note`` says why)."""

    point: float
    low: float
    high: float
    n: int
    note: str = ""

    def cell(self, digits: str = ".1f") -> str:
        """'point [low, high]'; the point and why there is no interval when there is none; '—' without
        trials."""
        if math.isnan(self.point):
            return "—"
        if math.isnan(self.low):
            return f"{self.point:{digits}} ({self.note})"
        return f"{self.point:{digits}} [{self.low:{digits}}, {self.high:{digits}}]"

    def columns(self, prefix: str) -> dict:
        """The estimate as raw table columns ``<prefix>``, ``<prefix>_low``, ``<prefix>_high``, ``<prefix>_n``,
        ``<prefix>_note`` (:meth:`of_row` reads them back)."""
        return {prefix: self.point, f"{prefix}_low": self.low, f"{prefix}_high": self.high, f"{prefix}_n": self.n,
                f"{prefix}_note": self.note}

    @classmethod
    def of_row(cls, row: Mapping, prefix: str) -> Estimate:
        return cls(float(row[prefix]), float(row[f"{prefix}_low"]), float(row[f"{prefix}_high"]),
                   int(row[f"{prefix}_n"]), str(row[f"{prefix}_note"]))


def estimate_columns(prefix: str) -> list[str]:
    """The raw columns of :meth:`Estimate.columns`."""
    return [prefix, *(f"{prefix}_{part}" for part in ("low", "high", "n", "note"))]


@dataclass(frozen=True)
class ArmSummary:
    """An arm's IQM and mean of its trial scores, each with its 95% stratified bootstrap interval."""

    iqm: Estimate
    mean: Estimate

    def columns(self) -> dict:
        """As raw table columns (:data:`ARM_COLUMNS`): ``iqm*`` and ``score_mean*``."""
        return {**self.iqm.columns("iqm"), **self.mean.columns("score_mean")}


ARM_COLUMNS = [*estimate_columns("iqm"), *estimate_columns("score_mean")]


def too_few_note(n: int) -> str:
    """Why a cell has no interval; empty when it has one."""
    if n == 0:
        return "no trials with a score"
    return f"no interval: n={n} < {MIN_TRIALS} trials" if n < MIN_TRIALS else ""


def _aggregates(scores: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_mean(scores)])


def runs_matrix(per_task: list[np.ndarray]) -> np.ndarray:
    """Trial scores per task as rliable's (runs, tasks) matrix, which needs the same number of runs in every task:
    each task's first k, k the fewest any task has."""
    if not per_task:
        return np.empty((0, 0))
    runs = min(len(a) for a in per_task)
    return np.column_stack([np.asarray(a)[:runs] for a in per_task])


def summarize_arms(scores: Mapping[Hashable, np.ndarray], reps: int = BOOTSTRAP_REPS,
                   seed: int = SEED) -> dict[Hashable, ArmSummary]:
    """Per arm (a method, an ablation's arm): the IQM and mean of its trial scores (a 1-D array; NaNs are
    trials without a score and are dropped), with rliable's 95% stratified bootstrap intervals; below
    :data:`MIN_TRIALS` scores, the point estimates and a note instead of an interval. The scores are sorted first,
    so that the same trials give the same intervals whatever order they come in."""
    summaries = {}
    for arm, values in scores.items():
        values = np.asarray(values, dtype=float)
        values = np.sort(values[~np.isnan(values)]).reshape(-1, 1)  # rliable's (runs, tasks), in a fixed order
        n, note = len(values), too_few_note(len(values))
        if n == 0:
            points, lows, highs = [math.nan] * 2, [math.nan] * 2, [math.nan] * 2
        elif note:
            points, lows, highs = _aggregates(values), [math.nan] * 2, [math.nan] * 2
        else:
            with _seeded(seed):
                point, interval = rly.get_interval_estimates(
                    {arm: values}, _aggregates, reps=reps, confidence_interval_size=CONFIDENCE)
            points, (lows, highs) = point[arm], interval[arm]
        iqm, mean = (Estimate(float(p), float(lo), float(hi), n, note)
                     for p, lo, hi in zip(points, lows, highs))
        summaries[arm] = ArmSummary(iqm, mean)
    return summaries


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = BOOTSTRAP_REPS,
                               seed: int = SEED) -> Estimate:
    """P(X > Y) (ties count half) of X's over Y's scores, with rliable's 95% stratified bootstrap interval.

    ``x`` and ``y`` are (runs,) for one task or (runs, tasks) for several (averaged over the tasks, each
    method's runs resampled independently per task). Below :data:`MIN_TRIALS` runs of either: the point
    estimate and a note.
    """
    x, y = (np.asarray(a, dtype=float) for a in (x, y))
    x, y = (a.reshape(-1, 1) if a.ndim == 1 else a for a in (x, y))
    x, y = (np.sort(a[~np.isnan(a).any(axis=1)], axis=0) for a in (x, y))  # each task's runs, in a fixed order
    n = min(len(x), len(y))
    note = too_few_note(n)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, note)
    if note:
        return Estimate(float(metrics.probability_of_improvement(x, y)), math.nan, math.nan, n, note)
    with _seeded(seed):
        point, interval = rly.get_interval_estimates(
            {"x,y": (x, y)}, metrics.probability_of_improvement, reps=reps, confidence_interval_size=CONFIDENCE)
    low, high = np.ravel(interval["x,y"])
    return Estimate(float(point["x,y"]), float(low), float(high), n)


def iqm_over_steps(scores: np.ndarray, reps: int = BOOTSTRAP_REPS,
                   seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sample-efficiency curve: the IQM over runs at each step of ``scores`` (runs, steps; no NaN), with its
    95% stratified bootstrap interval (NaN bounds below :data:`MIN_TRIALS` runs)."""
    runs, steps = scores.shape
    by_step = scores.reshape(runs, 1, steps)  # rliable's (runs, tasks, steps)

    def iqm(values: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(values[..., step]) for step in range(steps)])

    if runs < MIN_TRIALS:
        return iqm(by_step), np.full(steps, math.nan), np.full(steps, math.nan)
    with _seeded(seed):
        point, interval = rly.get_interval_estimates({"curve": by_step}, iqm, reps=reps,
                                                     confidence_interval_size=CONFIDENCE)
    return point["curve"], interval["curve"][0], interval["curve"][1]


AGGREGATE_METRICS = {"IQM": metrics.aggregate_iqm, "Median": metrics.aggregate_median,
                     "Mean": metrics.aggregate_mean, "Optimality gap": metrics.aggregate_optimality_gap}


def aggregate_estimates(normalized: Mapping[str, np.ndarray], reps: int = BOOTSTRAP_REPS,
                        seed: int = SEED) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's aggregate metrics (:data:`AGGREGATE_METRICS`) of each method's normalized scores (runs, tasks),
    with their 95% stratified bootstrap intervals: (points, intervals) as ``plot_interval_estimates`` takes
    them."""
    def aggregates(scores: np.ndarray) -> np.ndarray:
        return np.array([metric(scores) for metric in AGGREGATE_METRICS.values()])

    with _seeded(seed):
        return rly.get_interval_estimates(dict(normalized), aggregates, reps=reps, confidence_interval_size=CONFIDENCE)


def performance_profiles(normalized: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = BOOTSTRAP_REPS,
                         seed: int = SEED) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's score distributions (the fraction of runs above each tau) with 95% intervals."""
    with _seeded(seed):
        return rly.create_performance_profile(dict(normalized), taus, reps=reps, confidence_interval_size=CONFIDENCE)
