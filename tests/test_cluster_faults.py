"""Faults of a cluster, caused for real on a two-node cluster on 127.0.0.1 (token auth, every port chosen free,
results on shared file:// storage): the sweep's driver SIGKILLed while trials run, then the same command run
again against the cluster; the worker node killed without grace (its raylet and every process of it) while
its trial runs, after that trial's first checkpoint. The tests tear down exactly what they started
(tests/test_cluster.py's fixtures)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_cluster import TASK, Cluster, node_ports, pids_using, run_cli, start_cluster
from tests.test_faults import end_session, wait_for

SMOKE = ["--task", TASK, "--budget", "smoke"]
EXPERIMENT = f"{TASK}-sweep-smoke"
STEPS = [250, 500, 750, 1000]  # one row per iteration


@pytest.fixture(scope="module")
def cluster():
    yield from start_cluster(1, 1)  # one smoke trial fits on each node


def start_driver(cluster: Cluster, log: Path, *args: str) -> subprocess.Popen:
    """The sweep's driver against the cluster (RAY_ADDRESS), in a session of its own."""
    env = {**cluster.env(), "RAY_ADDRESS": cluster.address, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "sweeps.sweep", *args], cwd=log.parent, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def checkpointed_trials(exp_dir: Path) -> list[Path]:
    """The trial folders in the shared storage that hold a checkpoint."""
    return sorted(p for p in exp_dir.glob("*_H=*") if list(p.glob("checkpoint_*")))


def snapshot_steps(exp_dir: Path, trial: Path) -> int:
    """The env steps of `trial`'s last result in Tune's experiment snapshot in the storage: what a resume knows
    (Tune snapshots at least every 10 s, and after `keep_checkpoints` checkpoints of a trial)."""
    steps = 0
    for state in exp_dir.glob("experiment_state-*.json"):
        try:
            trials = json.loads(state.read_text())["trial_data"]
        except (OSError, ValueError, KeyError):
            continue
        for trial_state, metadata in trials:
            if trial.name.split("_H=")[0] in trial_state:
                steps = max(steps, json.loads(metadata).get("last_result", {}).get("env_steps", 0))
    return steps


def rows(trial: Path, column: str) -> list:
    return [json.loads(line)[column] for line in (trial / "result.json").read_text().splitlines()]


def csv_steps(trial: Path) -> list[int]:
    import pandas as pd

    return pd.read_csv(trial / "progress.csv")["env_steps"].tolist()


@pytest.mark.slow
def test_a_driver_killed_on_a_cluster_resumes_with_the_same_command(cluster, tmp_path):
    """SIGKILL the driver while the second of two trials trains on the cluster; the same command with the same
    RAY_ADDRESS resumes: the finished trial is not rerun, the other continues from its checkpoint."""
    shared = tmp_path / "shared"
    args = [*SMOKE, "--results", shared.as_uri(), "--num-samples", "2", "--max-concurrent", "1",
            "--set", "total_env_steps=1000"]
    exp_dir, log = shared / EXPERIMENT, tmp_path / "driver.log"
    driver = start_driver(cluster, log, *args)
    try:
        # A checkpoint every iteration: once the snapshot holds the result at 500, it holds the checkpoint at 250.
        wait_for(lambda: len(checkpointed_trials(exp_dir)) == 2
                 and snapshot_steps(exp_dir, checkpointed_trials(exp_dir)[-1]) >= 500, driver, log, timeout=600)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        end_session(driver)
    finished, interrupted = sorted(p.parent for p in exp_dir.glob("*/params.json"))
    finished_results = (finished / "result.json").read_text()
    assert rows(finished, "env_steps")[-1] == 1000, finished_results

    again = run_cli(cluster, tmp_path, "sweeps.sweep", *args)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-4000:]
    assert "Resuming" in again.stdout and f"pid {driver.pid}" in again.stdout  # the killed driver's lock, named
    assert (finished / "result.json").read_text() == finished_results  # not rerun
    for trial in (finished, interrupted):
        assert rows(trial, "env_steps") == STEPS and csv_steps(trial) == STEPS
    assert len(set(rows(interrupted, "pid"))) == 2, "the interrupted trial did not continue in a new process"
    assert rows(interrupted, "replay_size") == STEPS  # its replay came back with its checkpoint


def kill_node(cluster: Cluster, name: str) -> list[int]:
    """SIGKILL every process of node `name` (its `ray start`, raylet, workers, agents): no grace."""
    pids = pids_using(cluster.root / name)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


@pytest.mark.slow
def test_trials_of_a_lost_node_finish_elsewhere_from_their_checkpoints(cluster, tmp_path):
    """Kill the worker node without grace after both trials have a checkpoint; a new node joins later. Both
    trials finish to full length, one row per iteration; the terminal names the lost node and the moved trial."""
    shared = tmp_path / "shared"
    exp_dir, log = shared / EXPERIMENT, tmp_path / "driver.log"
    driver = start_driver(cluster, log, *SMOKE, "--results", shared.as_uri(), "--num-samples", "2",
                          "--set", "total_env_steps=1250")
    try:
        wait_for(lambda: len(checkpointed_trials(exp_dir)) == 2, driver, log, timeout=600)
        nodes = {n["node_id"]: n for n in cluster.state("list_nodes") if n["state"] == "ALIVE"}
        [worker] = [node_id for node_id, n in nodes.items() if not n["is_head_node"]]
        on_worker = [a["pid"] for a in cluster.state("list_actors")
                     if a["class_name"] == "SACSVG" and a["state"] == "ALIVE" and a["node_id"] == worker]
        assert len(on_worker) == 1, cluster.state("list_actors")
        assert kill_node(cluster, "worker")
        cluster.start_node("joined", [f"--address={cluster.address}", "--num-cpus=1", "--num-gpus=0",
                                      *node_ports(head=False)])
        assert driver.wait(timeout=900) == 0, log.read_text()[-5000:]
    finally:
        end_session(driver)
    output = log.read_text()
    trials = sorted(p.parent for p in exp_dir.glob("*/params.json"))
    [moved] = [t for t in trials if on_worker[0] in rows(t, "pid")]
    moved_id = moved.name.split("_H=")[0]
    for trial in trials:
        assert rows(trial, "env_steps") == [250, 500, 750, 1000, 1250], (trial, rows(trial, "env_steps"))
        assert csv_steps(trial) == [250, 500, 750, 1000, 1250], (trial, csv_steps(trial))
    assert len(set(rows(moved, "pid"))) == 2 and rows(moved, "replay_size") == [250, 500, 750, 1000, 1250]
    errors = (moved / "error.txt").read_text()
    assert output.count(f"node {worker[:12]} lost") == 1, errors[-3000:]
    assert f"trial {moved_id} (at " in output and "restarts from its last checkpoint" in output
    assert f"1 node(s) lost ({worker[:12]}): trials {moved_id} moved; each continued" in output, output[-3000:]
