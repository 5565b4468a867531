"""Two runs on one machine: a second run into an experiment folder that a running one holds stops before Ray
starts, naming that run and writing nothing; a lock left by a killed run is taken over with a note; two
sweeps into different folders both run, each with its own embedded Ray and dashboard (sweeps.folder_lock,
sweeps.ray_setup)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from sweeps.folder_lock import LOCK_NAME, experiment_lock
from sweeps.plan import SweepInputError
from sweeps.storage import Location
from tests.conftest import REPO, SMOKE_TASK, run_cli
from tests.test_faults import end_session, start, wait_for

EXPERIMENT = f"{SMOKE_TASK}-sweep-smoke"

HOLD = """
import sys, time
from sweeps.folder_lock import experiment_lock
from sweeps.storage import Location

with experiment_lock(Location.of(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def hold(where: str, log: Path) -> subprocess.Popen:
    """A process (its own session) holding the lock of the experiment folder `where` until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, where], cwd=REPO, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: "held" in log.read_text(), process, log, timeout=60)
    return process


def as_given(folder: Path, kind: str) -> str:
    return folder.as_uri() if kind == "file-uri" else str(folder)


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("kind", ["folder", "file-uri"])
def test_a_second_run_into_a_held_folder_stops_before_ray_naming_the_run(tmp_path, kind):
    results = tmp_path / "results"
    exp_dir = results / EXPERIMENT
    holder = hold(as_given(exp_dir, kind), tmp_path / "holder.log")
    try:
        before = listing(results)
        process = run_cli("--task", SMOKE_TASK, "--budget", "smoke", "--results", as_given(results, kind),
                          "--no-dashboard", timeout=180)
        after = listing(results)
    finally:
        end_session(holder)
    output = process.stdout + process.stderr
    assert process.returncode == 2, output[-3000:]
    assert f"is in use by another run (host {socket.gethostname()}, pid {holder.pid}, started 20" in process.stderr
    assert "Nothing was written" in process.stderr
    assert "Started a local Ray" not in output and "Traceback" not in output, output[-3000:]
    assert after == before and list(before) == [EXPERIMENT, f"{EXPERIMENT}/{LOCK_NAME}"]


@pytest.mark.parametrize("kind", ["folder", "file-uri"])
def test_the_lock_of_a_killed_run_is_taken_over_with_a_note(tmp_path, kind, capsys):
    exp_dir = tmp_path / EXPERIMENT
    holder = hold(as_given(exp_dir, kind), tmp_path / "holder.log")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    assert json.loads((exp_dir / LOCK_NAME).read_text())["pid"] == holder.pid  # left behind by the kill

    with experiment_lock(Location.of(as_given(exp_dir, kind))):
        note = capsys.readouterr().out
        assert f"was held by a run that is no longer running (host {socket.gethostname()}, pid {holder.pid}" in note
        assert json.loads((exp_dir / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(SweepInputError, match=f"pid {os.getpid()}, started"):  # a second take, same process
            with experiment_lock(Location.of(str(exp_dir))):
                pass
    assert not (exp_dir / LOCK_NAME).exists()  # a run that ends removes its lock: the next one gets no note
    with experiment_lock(Location.of(str(exp_dir))):
        assert capsys.readouterr().out == ""


def object_store_folder(folder: Path) -> Location:
    """`folder` through a filesystem that is not the local one, as s3:// or gs:// are: the advisory lock."""
    folder.mkdir(parents=True, exist_ok=True)
    return Location(f"mock://{folder.name}", pafs.SubTreeFileSystem(str(folder.parent), pafs.LocalFileSystem()),
                    folder.name)


def test_object_storage_lock_is_advisory(tmp_path, capsys):
    exp_dir = object_store_folder(tmp_path / EXPERIMENT)
    lock = tmp_path / EXPERIMENT / LOCK_NAME
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "started": "x"}))
    with experiment_lock(exp_dir):
        assert f"no longer running (host {socket.gethostname()}, pid {int(dead.stdout)}" in capsys.readouterr().out
        with pytest.raises(SweepInputError, match=f"pid {os.getpid()}.*the lock is advisory: if that run is no "
                                                  f"longer running, delete mock://{EXPERIMENT}/{LOCK_NAME}"):
            with experiment_lock(exp_dir):
                pass
    assert not lock.exists()
    lock.write_text(json.dumps({"host": "another-host", "pid": 1, "started": "x"}))  # liveness unknown: refused
    with pytest.raises(SweepInputError, match="host another-host, pid 1"):
        with experiment_lock(exp_dir):
            pass


DASHBOARD_LINE = re.compile(r"Ray dashboard: (http://127\.0\.0\.1:\d+)")


@pytest.mark.slow
def test_two_sweeps_into_different_folders_run_side_by_side(tmp_path):
    """Each run starts its own local Ray on free ports, dashboard included, and prints its address."""
    args = ["--task", SMOKE_TASK, "--budget", "smoke", "--mode", "train", "--set", "eval_interval_steps=250"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = start(*args, "--set", "total_env_steps=1500", "--results", str(tmp_path / "a"), log=logs[0])
    second = None
    try:
        wait_for(lambda: DASHBOARD_LINE.search(logs[0].read_text()), first, logs[0], timeout=300)
        second = start(*args, "--set", "total_env_steps=250", "--results", str(tmp_path / "b"), log=logs[1])
        wait_for(lambda: DASHBOARD_LINE.search(logs[1].read_text()), second, logs[1], timeout=300)
        assert first.poll() is None, "the first run ended before the second started Ray: not side by side"
        codes = [process.wait(timeout=600) for process in (first, second)]
    finally:
        for process in (first, second):
            if process is not None:
                end_session(process)
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], [output[-3000:] for output in outputs]
    dashboards = [DASHBOARD_LINE.search(output).group(1) for output in outputs]
    assert dashboards[0] != dashboards[1], dashboards
    assert not any("Traceback" in output for output in outputs), outputs
    for folder in ("a", "b"):
        assert list((tmp_path / folder).glob(f"{SMOKE_TASK}-train-smoke/*/checkpoint_*"))
        assert not (tmp_path / folder / f"{SMOKE_TASK}-train-smoke" / LOCK_NAME).exists()
