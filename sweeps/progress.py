"""A one-line sweep status in the terminal, as a Tune callback:

  [Walker2d-sweep-paper 0:42:10] trials 3 done, 4 running, 13 pending, 0 errored | env steps 1.2M/40.0M (3%)
  | best eval return 3412.5 (trial a1b2c_00003) | 812 steps/s | ETA 13:47:02

The ETA plays the trials left forward: each trial's env steps left at the seconds per env step its configuration
(everything but the seed) has taken so far (Tune's `time_total_s`, which a resume keeps), on as many slots as
trials are running, the pending trials in order. Arms that differ in speed (an ablation's SAC arm is ten times
faster than its model-using arms) are each counted at their own rate; a configuration not yet measured counts at
the mean of those measured.

A trial that fails because its node died (a lost or preempted machine, a crashed raylet) is named once when
it happens, with what follows; the status line then ends with `| 1 node lost: trials a1b2c_00001 moved`, and
the sweep's end repeats which nodes were lost and which of their trials moved.
"""

from __future__ import annotations

import csv
import datetime
import heapq
import json
import math
import time
from collections import defaultdict
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


def _configuration(trial) -> str:
    """A trial's config without its seed: trials that differ only in their seed run at the same speed."""
    return json.dumps({k: v for k, v in trial.config.items() if k != "seed"}, sort_keys=True, default=str)


def seconds_per_step(trials) -> dict[str, float]:
    """{configuration: its trials' training seconds per env step so far}, for those that reported any."""
    seconds, steps = defaultdict(float), defaultdict(int)
    for trial in trials:
        result = trial.last_result or {}
        if result.get(ENV_STEPS) and result.get("time_total_s"):
            config = _configuration(trial)
            seconds[config] += result["time_total_s"]
            steps[config] += result[ENV_STEPS]
    return {config: seconds[config] / steps[config] for config in steps}


def eta_seconds(trials, steps_per_trial: int, not_created: int = 0, completed=None) -> float:
    """Wall seconds until every trial is done: the running trials' time left fills as many slots as run at once,
    then each pending trial (and each not yet created by the search algorithm) takes the slot free first."""
    rates = seconds_per_step(trials)
    if not rates:
        return math.inf
    unmeasured = sum(rates.values()) / len(rates)

    def time_left(trial) -> float:
        done = steps_per_trial if trial is completed else steps_done(trial, steps_per_trial)
        return (steps_per_trial - done) * rates.get(_configuration(trial), unmeasured)

    running = [time_left(t) for t in trials if t is not completed and t.status == "RUNNING"]
    pending = [time_left(t) for t in trials if t is not completed and t.status == "PENDING"]
    slots = running or [0.0]
    heapq.heapify(slots)
    for seconds in pending + [steps_per_trial * unmeasured] * not_created:
        heapq.heappush(slots, heapq.heappop(slots) + seconds)
    return max(slots)


NODE_CHECK_S = 5.0  # how often a failed trial's node is looked up while its fate is open
NODE_DEATH_WAIT_S = 600.0  # a failed trial's node still alive this long after: a crash, not a lost node


def actor_node(actor_id: str) -> str:
    """The id of the node running the actor, from the GCS's actor table (read directly: the state API needs the
    dashboard); "" when Ray has no record of it."""
    import ray._private.state

    try:
        return ray._private.state.actors(actor_id=actor_id).get("Address", {}).get("NodeID") or ""
    except Exception:  # noqa: BLE001  (no record: the trial's node then goes unnamed)
        return ""


def dead_nodes() -> set[str]:
    import ray

    return {node["NodeID"] for node in ray.nodes() if not node["Alive"]}


class SweepProgress(Callback):
    def __init__(self, name: str, steps_per_trial: int, every_s: float = 30.0):
        self.name = name
        self.steps_per_trial = steps_per_trial
        self.every_s = every_s
        self._reset()

    def _reset(self):
        """The state of one run of the command (a resume starts a new one)."""
        self._start = time.time()
        self._start_steps = None
        self._last_print = 0.0
        self.lost_nodes: dict[str, list[str]] = {}  # node id -> the trials it ran, which moved
        self._placed: dict[str, tuple[str, str]] = {}  # trial id -> (actor id, node id) of its running actor
        self._failed: list[dict] = []  # trials that failed on a node not (yet) known to be dead
        self._last_node_check = 0.0

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info):
        self._reset()
        self.total_trials = total_num_samples

    def on_step_end(self, iteration, trials, **info):
        if self._failed and time.time() - self._last_node_check >= NODE_CHECK_S:
            self._name_lost_nodes()
        if time.time() - self._last_print >= self.every_s:
            self.report(trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.report(trials, completed=trial)  # Tune marks it TERMINATED only after the callbacks

    def on_trial_result(self, iteration, trials, trial, result, **info):
        actor = getattr(trial.temporary_state, "ray_actor", None)
        if actor is not None and self._placed.get(trial.trial_id, ("",))[0] != actor._ray_actor_id.hex():
            self._placed[trial.trial_id] = (actor._ray_actor_id.hex(), actor_node(actor._ray_actor_id.hex()))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._trial_failed(trial, "restarts from its last checkpoint on another node (or on one that joins later)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._trial_failed(trial, "is out of retries: run the same command again to resume it from its last "
                                  "checkpoint")

    def _trial_failed(self, trial, what_follows: str) -> None:
        """Remember where the trial failed: Ray marks a lost node dead only after its health checks fail."""
        _, node = self._placed.pop(trial.trial_id, ("", ""))
        if node:
            self._failed.append({"node": node, "trial": trial.trial_id, "at": time.time(), "next": what_follows,
                                 "steps": int((trial.last_result or {}).get(ENV_STEPS, 0) or 0)})
            self._name_lost_nodes()

    def _name_lost_nodes(self) -> None:
        """Say once, for each failed trial whose node Ray now marks dead, that the node was lost."""
        self._last_node_check = time.time()
        dead = dead_nodes()
        for failure in [f for f in self._failed if f["node"] in dead]:
            node = failure["node"]
            self.lost_nodes.setdefault(node, []).append(failure["trial"])
            print(f"[{self.name}] node {node[:12]} lost (its raylet and processes are gone): trial {failure['trial']} "
                  f"(at {failure['steps']:,} env steps) {failure['next']}", flush=True)
        self._failed = [f for f in self._failed
                        if f["node"] not in dead and time.time() - f["at"] < NODE_DEATH_WAIT_S]

    def on_experiment_end(self, trials, **info):
        if self._failed:
            self._name_lost_nodes()
        if self.lost_nodes:
            print(f"[{self.name}] {self.lost_summary()}; each continued from its last checkpoint (progress.csv and "
                  "result.json keep one row per iteration)", flush=True)

    def lost_summary(self) -> str:
        moved = [trial for trials in self.lost_nodes.values() for trial in dict.fromkeys(trials)]
        nodes = ", ".join(node[:12] for node in self.lost_nodes)
        return f"{len(self.lost_nodes)} node(s) lost ({nodes}): trials {', '.join(moved)} moved"

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
        eta = eta_seconds(trials, self.steps_per_trial, total_trials - len(trials), completed)
        best, best_id = best_eval(trials)
        best_text = f"{best:.1f} (trial {best_id})" if best is not None else "-"
        return (
            f"[{self.name} {_duration(elapsed)}] trials {counts['TERMINATED']} done, {counts['RUNNING']} running, "
            f"{counts['PENDING']} pending, {counts['ERROR']} errored | env steps {_human(done)}/{_human(total)} "
            f"({100 * done / max(total, 1):.0f}%) | best eval return {best_text} | {rate:.1f} steps/s | "
            f"ETA {_duration(eta) if done < total else '0:00:00'}"
            + (f" | {self.lost_summary()}" if self.lost_nodes else "")
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
