"""A one-line sweep status in the terminal, as a Tune callback:

  [Walker2d-sweep-paper 0:42:10] trials 3 done, 4 running, 13 pending, 0 errored | env steps 1.2M/40.0M (3%)
  | best eval return 3412.5 (trial a1b2c_00003) | 812 steps/s | ETA 13:47:02

The ETA divides the env steps left (all trials) by the rate measured since this session started, so it
stays right after a resume and with any number of concurrent trials.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from ray.tune import Callback
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, LoggerCallback, TBXLoggerCallback
from ray.tune.result import EXPR_PROGRESS_FILE, EXPR_RESULT_FILE

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


def cut_rows_from(path: Path, env_steps: int, steps_of: Callable[[bytes], int], header_lines: int = 0) -> None:
    """Truncate the file `path` (rows in env-step order) before its first row at `env_steps` or later, or
    before a torn row (cut short when a process died or the disk filled up while writing it)."""
    offset = 0
    with open(path, "rb") as file:
        for number, line in enumerate(file):
            if number >= header_lines and line.strip():
                steps = _row_steps(line, steps_of)
                if steps is None or steps >= env_steps:
                    break
            offset += len(line)
    with open(path, "rb+") as file:
        file.truncate(offset)


def _row_steps(line: bytes, steps_of: Callable[[bytes], int]) -> int | None:
    """The env steps of a row, None if the row is torn."""
    if not line.endswith(b"\n"):
        return None
    try:
        return steps_of(line)
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class RewindOnRestore:
    """A per-trial results file that never repeats env steps: a trial restored from a checkpoint (a retry
    after a crash, or a resumed sweep) reports again the iterations after that checkpoint, so their rows,
    written before the fault, are cut first. Rows stay one per iteration, in env-step order, without gaps."""

    file_name: str
    header_lines = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_steps: dict = {}

    def _rewind(self, trial, result: dict) -> None:
        steps, last = result.get(ENV_STEPS), self._last_steps.get(trial)
        path = Path(trial.local_path, self.file_name)
        if steps is not None and (last is None or steps <= last) and path.is_file() and path.stat().st_size:
            self._trial_files[trial].flush()
            cut_rows_from(path, steps, self.steps_reader(path), self.header_lines)
        self._last_steps[trial] = steps

    def steps_reader(self, path: Path) -> Callable[[bytes], int]:
        raise NotImplementedError


class ResultJSON(RewindOnRestore, JsonLoggerCallback):
    """Tune's result.json (one JSON line per iteration), rewound when a trial restores."""

    file_name = EXPR_RESULT_FILE

    def steps_reader(self, path: Path) -> Callable[[bytes], int]:
        return lambda line: json.loads(line)[ENV_STEPS]

    def log_trial_result(self, iteration, trial, result):
        if trial not in self._trial_files:
            self.log_trial_start(trial)
        self._rewind(trial, result)
        super().log_trial_result(iteration, trial, result)


class ProgressCSV(RewindOnRestore, CSVLoggerCallback):
    """Tune's progress.csv (one row per iteration), fixed for sweeps: Tune takes a trial's columns from its
    first result, so metrics that only some iterations report (eval_return) get a column with NaN
    elsewhere; a resumed trial keeps writing in the order of the header already in its file; and the rows
    of iterations a restored trial repeats are replaced, not duplicated."""

    file_name = EXPR_PROGRESS_FILE
    header_lines = 1

    def __init__(self, metrics: list[str]):
        super().__init__()
        self.metrics = list(metrics)

    def steps_reader(self, path: Path) -> Callable[[bytes], int]:
        header = _csv_header(path)
        column = header.index(ENV_STEPS)

        def steps_of(line: bytes) -> int:
            row = next(csv.reader([line.decode()]))
            if len(row) != len(header):
                raise ValueError(f"{len(row)} fields, the header has {len(header)}")
            return int(float(row[column]))
        return steps_of

    def log_trial_result(self, iteration, trial, result):
        if trial not in self._trial_files:
            self._setup_trial(trial)
        self._rewind(trial, result)
        if self._trial_csv[trial] is None and self._trial_continue[trial]:
            header = _csv_header(Path(trial.local_path, EXPR_PROGRESS_FILE))
            self._trial_csv[trial] = csv.DictWriter(self._trial_files[trial], header)
        super().log_trial_result(iteration, trial, {**dict.fromkeys(self.metrics, math.nan), **result})


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="") as file:
        return next(csv.reader(file))


class TensorBoardEvents(LoggerCallback):
    """Tune's TensorBoard logger (each trial's events.out.tfevents), held rather than subclassed: given no
    TBXLoggerCallback, Tune prints no TensorBoard hint of its own, which names its staging folder under
    /tmp/ray; the sweep prints one naming the results folder (sweeps.tuner)."""

    def __init__(self):
        self._events = TBXLoggerCallback()

    def setup(self, *args, **kwargs):
        self._events.setup(*args, **kwargs)

    def log_trial_start(self, trial):
        self._events.log_trial_start(trial)

    def log_trial_result(self, iteration, trial, result):
        self._events.log_trial_result(iteration, trial, result)

    def log_trial_end(self, trial, failed=False):
        self._events.log_trial_end(trial, failed)
