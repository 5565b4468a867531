"""A one-line sweep status in the terminal, as a Tune callback:

  [Walker2d-sweep-paper 0:42:10] trials 3 done, 4 running, 13 pending, 0 errored | env steps 1.2M/40.0M (3%)
  | best eval return 3412.5 (trial a1b2c_00003) | 812 steps/s | ETA 13:47:02

The ETA divides the env steps left (all trials) by the rate measured since this session started, so it
stays right after a resume and with any number of concurrent trials.
"""

from __future__ import annotations

import csv
import datetime
import math
import time
from pathlib import Path

from ray.tune import Callback
from ray.tune.logger import CSVLoggerCallback
from ray.tune.result import EXPR_PROGRESS_FILE

from algorithms.sac_svg.metrics import ENV_STEPS, EVAL_RETURN


def _human(n: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=int(seconds)))


def best_eval(trials) -> tuple[float | None, str | None]:
    """The highest evaluation return any trial has reported so far, and that trial's id."""
    best, best_id = None, None
    for trial in trials:
        value = trial.run_metadata.metric_analysis.get(EVAL_RETURN, {}).get("max")
        if value is not None and math.isfinite(value) and (best is None or value > best):
            best, best_id = value, trial.trial_id
    return best, best_id


def steps_done(trial, steps_per_trial: int) -> int:
    if trial.status == "TERMINATED":
        return steps_per_trial
    return min(int((trial.last_result or {}).get(ENV_STEPS, 0) or 0), steps_per_trial)


class SweepProgress(Callback):
    def __init__(self, name: str, steps_per_trial: int, every_s: float = 30.0):
        self.name = name
        self.steps_per_trial = steps_per_trial
        self.every_s = every_s
        self._reset()

    def _reset(self):
        self._start = time.time()
        self._start_steps = None
        self._last_print = 0.0

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info):
        self._reset()
        self.total_trials = total_num_samples

    def on_step_end(self, iteration, trials, **info):
        if time.time() - self._last_print >= self.every_s:
            self.report(trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.report(trials, completed=trial)  # Tune marks it TERMINATED only after the callbacks

    def status_line(self, trials, completed=None) -> str:
        status = {t: "TERMINATED" if t is completed else t.status for t in trials}
        counts = {s: sum(status[t] == s for t in trials) for s in ("TERMINATED", "RUNNING", "PENDING", "ERROR")}
        total_trials = max(self.total_trials or 0, len(trials))
        counts["PENDING"] += total_trials - len(trials)  # not yet created by the search algorithm
        done = sum(self.steps_per_trial if t is completed else steps_done(t, self.steps_per_trial) for t in trials)
        total = total_trials * self.steps_per_trial
        elapsed = time.time() - self._start
        if self._start_steps is None:
            self._start_steps = done
        rate = (done - self._start_steps) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else math.inf
        best, best_id = best_eval(trials)
        best_text = f"{best:.1f} (trial {best_id})" if best is not None else "-"
        return (
            f"[{self.name} {_duration(elapsed)}] trials {counts['TERMINATED']} done, {counts['RUNNING']} running, "
            f"{counts['PENDING']} pending, {counts['ERROR']} errored | env steps {_human(done)}/{_human(total)} "
            f"({100 * done / max(total, 1):.0f}%) | best eval return {best_text} | {rate:.1f} steps/s | "
            f"ETA {_duration(eta) if done < total else '0:00:00'}"
        )

    def report(self, trials, completed=None):
        self._last_print = time.time()
        print(self.status_line(trials, completed), flush=True)


class ProgressCSV(CSVLoggerCallback):
    """Tune's progress.csv (one row per iteration), fixed for sweeps: Tune takes a trial's columns from its
    first result, so metrics that only some iterations report (eval_return) get a column with NaN
    elsewhere; and a resumed trial keeps writing in the order of the header already in its file."""

    def __init__(self, metrics: list[str]):
        super().__init__()
        self.metrics = list(metrics)

    def log_trial_result(self, iteration, trial, result):
        if trial not in self._trial_files:
            self._setup_trial(trial)
        if self._trial_csv[trial] is None and self._trial_continue[trial]:
            with open(Path(trial.local_path, EXPR_PROGRESS_FILE), newline="") as file:
                header = next(csv.reader(file))
            self._trial_csv[trial] = csv.DictWriter(self._trial_files[trial], header)
        super().log_trial_result(iteration, trial, {**dict.fromkeys(self.metrics, math.nan), **result})
