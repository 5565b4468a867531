"""Real faults on the smoke budget: processes killed by pid (a trial, an env runner, the sweep
driver, a process in the middle of a save), a full or read-only results filesystem. Each test starts its
own processes in their own session and kills exactly those."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps import cli, tuner
from sweeps import plan as plans
from sweeps import results as sweep_results
from sweeps.progress import ProgressCSV
from tests.conftest import REPO, SMOKE_TASK, run_cli

SHORT = ["--task", SMOKE_TASK, "--budget", "smoke", "--no-dashboard", "--set", "eval_interval_steps=500"]


def start(*args: str, log: Path, module: str = "sweeps.sweep") -> subprocess.Popen:
    """`python -m <module> <args>` in its own session (so the test can end all of it), output to `log`."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def end_session(process: subprocess.Popen) -> None:
    """SIGKILL what is left of the session this test started (the driver and the Ray it started)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found.append((child, (Path("/proc") / str(child) / "cmdline").read_bytes().decode(errors="replace")))
            except OSError:
                continue
            todo.append(child)
    return found


def wait_for(condition, process: subprocess.Popen, log: Path, timeout: float = 300, poll_s: float = 0.3):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        assert process.poll() is None, f"ended before the fault could be caused:\n{log.read_text()[-3000:]}"
        time.sleep(poll_s)
    raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")


def trial_dirs(exp_dir: Path) -> list[Path]:
    return sorted(p.parent for p in exp_dir.glob("*/params.json"))


def progress(trial_dir: Path) -> pd.DataFrame:
    file = trial_dir / "progress.csv"
    return pd.read_csv(file) if file.is_file() and file.stat().st_size else pd.DataFrame({"env_steps": []})


def json_steps(trial_dir: Path) -> list[int]:
    return [json.loads(line)["env_steps"] for line in (trial_dir / "result.json").read_text().splitlines()]


def row_with_checkpoint(exp_dir: Path, min_steps: int):
    """The last progress row of the newest trial once it reached `min_steps` and has a checkpoint."""
    dirs = trial_dirs(exp_dir) if exp_dir.exists() else []
    if dirs and list(dirs[-1].glob("checkpoint_*")):
        rows = progress(dirs[-1])
        if len(rows) and rows["env_steps"].iloc[-1] >= min_steps:
            return rows.iloc[-1].to_dict()
    return None


@pytest.mark.slow
def test_killed_trial_process_is_retried_from_its_checkpoint_replay_included(tmp_path):
    """SIGKILL the trial's own process (the pid in its results) after its second checkpoint: Tune retries
    it from that checkpoint, replay buffer included; progress.csv and result.json hold each env step once."""
    log = tmp_path / "sweep.log"
    process = start(*SHORT, "--results", str(tmp_path), "--num-samples", "1", "--set", "total_env_steps=1000",
                    log=log)
    exp_dir = tmp_path / f"{SMOKE_TASK}-sweep-smoke"
    try:
        row = wait_for(lambda: row_with_checkpoint(exp_dir, 500), process, log)
        os.kill(int(row["pid"]), signal.SIGKILL)
        assert process.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        end_session(process)
    [trial] = trial_dirs(exp_dir)
    rows = progress(trial)
    assert rows["env_steps"].tolist() == [250, 500, 750, 1000], rows["env_steps"].tolist()
    assert json_steps(trial) == [250, 500, 750, 1000]
    assert rows["pid"].nunique() == 2, "the trial was not retried in a new process"
    # Had the replay buffer been lost, the first iteration after the restore would hold 250 transitions.
    assert (rows["replay_size"] == rows["env_steps"]).all(), rows[["env_steps", "replay_size"]]
    assert (trial / "error.txt").is_file(), "the retried failure left no error file"


@pytest.mark.slow
def test_killed_env_runner_is_replaced_and_the_trial_goes_on(tmp_path):
    """SIGKILL the trial's env runner process: RLlib restarts it, the trial finishes without failing, and its
    results count the restart."""
    log = tmp_path / "sweep.log"
    process = start(*SHORT, "--results", str(tmp_path), "--num-samples", "1", "--set", "total_env_steps=1000",
                    log=log)
    exp_dir = tmp_path / f"{SMOKE_TASK}-sweep-smoke"
    try:
        wait_for(lambda: row_with_checkpoint(exp_dir, 250), process, log)
        runners = [pid for pid, command in descendants(process.pid) if "SingleAgentEnvRunner" in command]
        assert len(runners) == 1, descendants(process.pid)
        os.kill(runners[0], signal.SIGKILL)
        assert process.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        end_session(process)
    [trial] = trial_dirs(exp_dir)
    rows = progress(trial)
    assert rows["env_steps"].iloc[-1] == 1000
    assert rows["env_runner_restarts"].iloc[-1] >= 1, rows["env_runner_restarts"].tolist()
    assert rows["env_runner_restarts"].iloc[0] == 0
    assert not (trial / "error.txt").exists(), (trial / "error.txt").read_text()


@pytest.mark.slow
def test_sigkilled_driver_resumes_with_the_same_command(tmp_path):
    """SIGKILL the sweep driver while the second of two trials trains; the same command then resumes: the
    finished trial is not rerun, the interrupted one continues, and the tables equal an uninterrupted
    sweep's (two trials, each one row per iteration up to the budget's env steps)."""
    args = [*SHORT, "--results", str(tmp_path), "--max-concurrent", "1", "--set", "total_env_steps=750"]
    log = tmp_path / "sweep.log"
    process = start(*args, log=log)
    exp_dir = tmp_path / f"{SMOKE_TASK}-sweep-smoke"
    try:
        wait_for(lambda: len(trial_dirs(exp_dir)) == 2 and row_with_checkpoint(exp_dir, 250) is not None,
                 process, log)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        end_session(process)
    finished, interrupted = trial_dirs(exp_dir)
    finished_results = (finished / "result.json").read_text()
    assert json_steps(finished)[-1] == 750 and json_steps(interrupted)[-1] < 750

    second = run_cli(*args, timeout=400)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming" in second.stdout
    assert trial_dirs(exp_dir) == [finished, interrupted]
    assert (finished / "result.json").read_text() == finished_results  # not rerun
    table = sweep_results.trial_table(exp_dir)
    assert len(table) == 2 and table["env_steps"].tolist() == [750, 750]
    for trial in (finished, interrupted):
        assert progress(trial)["env_steps"].tolist() == [250, 500, 750]
        assert json_steps(trial) == [250, 500, 750]


LARGE_REPLAY = 8_000_000  # transitions: a save long enough to be killed in the middle of

SAVE_LARGE_REPLAY = """
import sys

import numpy as np
import ray

from tests.conftest import small_config

ray.init(num_cpus=1, include_dashboard=False, configure_logging=False)
path, n = sys.argv[1], int(sys.argv[2])
algo = small_config(report_interval_steps=300, num_random_steps=100, replay_capacity=n + 1000).build_algo()
algo.train()
algo.save_to_path(path)
print("saved", flush=True)
rng = np.random.default_rng(0)
obs = rng.normal(size=(n, 4)).astype(np.float32)
transitions = {"obs": obs, "next_obs": obs, "action": np.zeros((n, 1), np.float32), "reward": np.ones(n, np.float32),
               "terminated": np.zeros(n, np.float32), "episode": np.zeros(n, np.int64), "t": np.arange(n)}
algo.learner_group.foreach_learner(lambda learner: learner.replay.add(transitions))
print("saving", flush=True)
algo.save_to_path(path)
print("done", flush=True)
"""


@pytest.mark.slow
def test_process_killed_while_saving_leaves_the_previous_checkpoint_usable(tmp_path):
    """SIGKILL a process while it overwrites its checkpoint with one holding a large replay buffer (8M
    transitions, about a second to save): the checkpoint folder still holds the previous, complete
    checkpoint, which restores."""
    from algorithms.sac_svg import checkpoint
    from tests.conftest import small_config

    path, log = tmp_path / "ckpt", tmp_path / "save.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-c", SAVE_LARGE_REPLAY, str(path), str(LARGE_REPLAY)], cwd=REPO,
                               env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "saving" in log.read_text(), process, log)
        before = json.loads((path / checkpoint.MANIFEST).read_text())
        partial = wait_for(lambda: list(tmp_path.glob(".ckpt.partial-*")), process, log, poll_s=0.02)
        assert process.poll() is None, "the save ended before the kill"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        end_session(process)
    assert "done" not in log.read_text()
    assert partial[0].exists(), "the kill did not land inside the save"
    checkpoint.check(path, small_config(replay_capacity=LARGE_REPLAY + 1000))
    assert json.loads((path / checkpoint.MANIFEST).read_text()) == before
    import ray

    ray.init(num_cpus=1, include_dashboard=False, configure_logging=False)
    try:
        algo = small_config(report_interval_steps=300, num_random_steps=100,
                            replay_capacity=LARGE_REPLAY + 1000).build_algo()
        algo.restore_from_path(path)
        size = next(iter(algo.learner_group.foreach_learner(lambda learner: len(learner.replay)))).get()
        assert size == before["env_steps"] == 300
        algo.stop()
    finally:
        ray.shutdown()


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 4 MB filesystem (tmpfs) at tmp_path/small; skipped where mounting is not permitted."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.mark.slow
def test_full_disk_is_reported_once_with_the_path(small_filesystem):
    """A sweep whose results folder fills up ends with one message naming the folder and what to do, with
    no per-trial stack trace; what was written stays readable."""
    process = run_cli(*SHORT, "--results", str(small_filesystem), "--num-samples", "1",
                      "--set", "total_env_steps=1500", timeout=400)
    output = process.stdout + process.stderr
    exp_dir = small_filesystem / f"{SMOKE_TASK}-sweep-smoke"
    assert process.returncode == 1, output[-3000:]
    assert output.count(f"the results folder {exp_dir} is full (No space left on device)") == 1, output[-3000:]
    assert "run the same command again to resume" in output
    assert "Traceback" not in output, output[-5000:]
    table = sweep_results.trial_table(exp_dir)
    assert len(table) == 1 and 0 < table["env_steps"].iloc[0] < 1500


@pytest.mark.slow
def test_read_only_results_folder_fails_before_ray_and_keeps_results(small_filesystem):
    exp_dir = small_filesystem / f"{SMOKE_TASK}-sweep-smoke"
    trial = exp_dir / "trial_unfinished"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"horizon": 2, "seed": 1}))
    (trial / "progress.csv").write_text("env_steps,eval_return\n250,\n500,12.5\n")
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    process = run_cli(*SHORT, "--results", str(small_filesystem), timeout=120)
    assert process.returncode == 2
    assert process.stderr.count(f"the results folder {exp_dir} is read-only (Read-only file system)") == 1, (
        process.stderr)
    assert "Traceback" not in process.stderr and "Started a local Ray" not in process.stdout + process.stderr
    assert sweep_results.trial_table(exp_dir)[["env_steps", "final_eval"]].values.tolist() == [[500, 12.5]]


def test_a_result_line_cut_off_by_a_full_disk_is_left_out(tmp_path):
    """Found by the full-disk test: result.json's last record written halfway; the trial's curve keeps the
    records before it."""
    trial = tmp_path / "trial"
    trial.mkdir()
    records = [json.dumps({"env_steps": 250 * i, "eval_return": 1.0 * i}) for i in (1, 2)]
    (trial / "result.json").write_text("\n".join(records) + '\n{"env_steps": 750, "eval_ret')
    assert sweep_results.read_progress(trial)["env_steps"].tolist() == [250, 500]
    (trial / "result.json").write_text('{"env_steps": 2\n' + "\n".join(records))
    with pytest.raises(json.JSONDecodeError):
        sweep_results.read_progress(trial)


@pytest.mark.parametrize("params", ["", '{"horizon": 2, "se'])
def test_a_params_file_emptied_by_a_full_disk_is_read_from_the_results(tmp_path, params):
    """Found by the full-disk test: Tune rewrote params.json into the full disk when it retried the trial."""
    trial = tmp_path / "trial"
    trial.mkdir()
    (trial / "params.json").write_text(params)
    (trial / "result.json").write_text(json.dumps({"env_steps": 250, "config": {"horizon": 2, "seed": 3}}) + "\n")
    assert sweep_results.trial_table(tmp_path)[["horizon", "seed", "env_steps"]].values.tolist() == [[2, 3, 250]]
    (trial / "result.json").write_text("")
    assert sweep_results.trial_table(tmp_path)[["horizon", "env_steps"]].isna().values.tolist() == [[True, True]]


@pytest.mark.parametrize("csv, steps", [("env_steps,eval_re", [250, 500]),  # no header: result.json's rows
                                        ("env_steps,eval_return\n", [250, 500]),  # no row: result.json's rows
                                        ("env_steps,eval_return\n250,\n50", [250])])  # the cut row left out
def test_a_progress_csv_cut_off_by_a_full_disk(tmp_path, csv, steps):
    """Found by the full-disk test in CI: progress.csv's buffered header or last row written halfway."""
    trial = tmp_path / "trial"
    trial.mkdir()
    (trial / "progress.csv").write_text(csv)
    (trial / "result.json").write_text("".join(json.dumps({"env_steps": 250 * i}) + "\n" for i in (1, 2)))
    assert sweep_results.read_progress(trial)["env_steps"].tolist() == steps


def test_a_metric_progress_csv_has_no_column_for_comes_from_result_json(tmp_path):
    """progress.csv's header is its first row's: a trial whose first iteration had no update has no model_error
    column there; the curve takes it from result.json's row of the same env steps."""
    trial = tmp_path / "trial"
    trial.mkdir()
    (trial / "progress.csv").write_text("env_steps,eval_return\n500,\n1000,7.5\n")
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in (
        {"env_steps": 500}, {"env_steps": 1000, "model_error": 0.25, "eval_return": 7.5})))
    progress = sweep_results.read_progress(trial)
    assert progress["env_steps"].tolist() == [500, 1000] and progress["eval_return"].tolist()[1] == 7.5
    assert math.isnan(progress["model_error"][0]) and progress["model_error"][1] == 0.25


class _LoggedTrial:
    """What Tune's CSV logger uses of a trial (hashable, as Tune's trials are)."""

    checkpoint = None

    def __init__(self, local_path: str):
        self.local_path = local_path

    def init_local_path(self):
        pass


def test_progress_csv_has_every_learner_metric_from_a_first_row_without_updates(tmp_path):
    """At the short budget the first iterations are the random warm-up's, without updates: the sweep's
    progress.csv still has a column for each learner metric, filled once updates start."""
    plan = plans.make_plan(cli.parse_args(["--task", "Walker2d", "--budget", "short", "--results", str(tmp_path)],
                                          "train"))
    (csv_logger,) = [c for c in tuner.callbacks(plan) if isinstance(c, ProgressCSV)]
    trial = _LoggedTrial(local_path=str(tmp_path))
    csv_logger.log_trial_result(1, trial, {"env_steps": 500, "num_updates": 0})
    csv_logger.log_trial_result(2, trial, {"env_steps": 5500, "num_updates": 500, "model_error": 0.5,
                                           "loss_critic": 2.0})
    progress = pd.read_csv(tmp_path / "progress.csv")
    assert progress["model_error"].tolist()[1] == 0.5 and progress["loss_critic"].tolist()[1] == 2.0
    assert math.isnan(progress["model_error"][0])


def test_wandb_errors_are_counted_and_reported_when_the_sweep_ends(tmp_path, monkeypatch, capsys):
    """W&B online without an API key: Ray's callback fails in setup; the sweep goes on, and its end reports
    the error and how many W&B calls were skipped after it."""
    from sweeps.wandb_logging import SafeWandbLoggerCallback

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no key stored by `wandb login`
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    callback = SafeWandbLoggerCallback(project="svglab", group="g", mode="online")
    callback.setup()
    for iteration in range(3):
        callback.log_trial_result(iteration, trial=None, result={})
    callback.on_experiment_end([])
    report = capsys.readouterr().err
    assert "W&B: 1 error(s), W&B logging was switched off after the first" in report, report
    assert "4 W&B call(s) skipped after it" in report  # 3 results and the end of the experiment


def test_rewinding_a_results_file_cuts_repeated_and_torn_rows(tmp_path):
    """What a restored trial's progress.csv gets: rows from the restored env step on are cut, and so is a row
    torn by the fault (a process killed, or a full disk, while writing it)."""
    from sweeps.progress import ProgressCSV, cut_rows_from

    path = tmp_path / "progress.csv"
    rows = "env_steps,loss\n250,1.0\n500,2.0\n750,3.0\n"
    path.write_text(rows)
    cut_rows_from(path, 500, ProgressCSV([]).steps_reader(path), header_lines=1)
    assert path.read_text() == "env_steps,loss\n250,1.0\n"
    path.write_text(rows + "1000,4")
    cut_rows_from(path, 1000, ProgressCSV([]).steps_reader(path), header_lines=1)
    assert path.read_text() == rows
    path.write_text("env_steps,loss\n250,1.0\n500,2." + "750,3.0\n")  # a torn row, then one appended to it
    cut_rows_from(path, 1000, ProgressCSV([]).steps_reader(path), header_lines=1)
    assert path.read_text() == "env_steps,loss\n250,1.0\n"


TIME_CADENCE_SWEEP = """
import dataclasses
import sys

from sweeps import budgets, cli

# Iterations alone would checkpoint only at the end; checkpoint_every_s=0 asks for one every iteration.
budgets.BUDGETS["smoke"] = dataclasses.replace(budgets.SMOKE, checkpoint_every=100, checkpoint_every_s=0)
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_time_cadence_checkpoints_between_iteration_checkpoints(tmp_path):
    """With checkpoint_every_s the algorithm asks Tune for a checkpoint (`should_checkpoint`) once that much
    time has passed, however many iterations `checkpoint_every` would wait."""
    process = subprocess.run([sys.executable, "-c", TIME_CADENCE_SWEEP, *SHORT, "--results", str(tmp_path),
                              "--num-samples", "1", "--set", "total_env_steps=750"], cwd=REPO,
                             env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True,
                             timeout=400)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    [trial] = trial_dirs(tmp_path / f"{SMOKE_TASK}-sweep-smoke")
    assert progress(trial)["should_checkpoint"].tolist() == [True, True, True]
    # Three checkpoints were written (indices 0-2), the budget keeps the last two.
    assert sorted(p.name for p in trial.glob("checkpoint_*")) == ["checkpoint_000001", "checkpoint_000002"]


def test_checkpoint_due_bounds_lost_time_and_saving_time():
    from types import SimpleNamespace

    from algorithms.sac_svg.algorithm import SACSVG

    def due(every, since_save, save_seconds):
        algo = SimpleNamespace(config=SimpleNamespace(checkpoint_every_s=every), _save_seconds=save_seconds,
                               _last_save=time.monotonic() - since_save)
        return SACSVG._checkpoint_due(algo)

    assert not due(None, 1e6, 0.0)  # off
    assert due(900, 901, 1.0) and not due(900, 899, 1.0)
    assert not due(900, 901, 100.0) and due(900, 1001, 100.0)  # saves take 100 s: at most every 1,000 s
