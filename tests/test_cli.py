"""The command line as a whole: `make` prints its targets and installs nothing, `make tasks`, `make
docker-sweep` passes every sweep variable, `--set` takes several KEY=VALUE, and the tables and the
dashboard refuse a missing or empty results folder in one line, creating nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboards import report, tables
from sweeps import cli
from sweeps import plan as plans
from tasks import TASKS
from tests.conftest import REPO


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_make_alone_prints_the_targets_and_their_variables_and_installs_nothing():
    alone, help_ = make(), make("help")
    assert alone.returncode == 0 and alone.stdout == help_.stdout
    for target, variable in [("sweep", "SAMPLES="), ("evaluate", "CHECKPOINT="), ("video", "OUT="),
                             ("export", "OUT="), ("tasks", ""), ("tables", "SWEEP="), ("test-fast", "")]:
        line = next((x for x in alone.stdout.splitlines() if x.split()[:1] == [target]), None)
        assert line is not None and variable in line, target
    assert "pip" not in alone.stdout + alone.stderr


def test_tasks_lists_the_registry():
    process = subprocess.run([sys.executable, "-m", "tasks"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    rows = {line.split()[0]: line.split() for line in process.stdout.splitlines()[1:] if line.strip()}
    for task in TASKS.values():
        assert rows[task.name][1:5] == [task.suite, str(task.obs_dim), str(task.act_dim), f"{task.train_steps:,}"]
    # Walker2d: Table 4 (-2, -3, 64), the official code (-2, -8, 1/16).
    assert " ".join(rows["Walker2d"][6:]) == "-2, -3, 64 -2, -8, 0.0625"


def test_set_takes_several_key_values_as_several_flags_do():
    base = ["--task", "Hopper", "--budget", "smoke"]
    together = plans.make_plan(cli.parse_args([*base, "--set", "horizon=3", "actor_lr=3e-4", "--seed", "2"]))
    apart = plans.make_plan(cli.parse_args([*base, "--set", "horizon=3", "--set", "actor_lr=3e-4", "--seed", "2"]))
    assert together.manifest["overrides"] == apart.manifest["overrides"] == {"horizon": 3, "actor_lr": 3e-4}
    assert together.trials == apart.trials


@pytest.mark.parametrize("command", [tables.main, report.main])
def test_tables_and_dashboard_refuse_a_missing_or_empty_results_folder(command, tmp_path, capsys):
    missing = tmp_path / "results"
    assert command(["--results", str(missing), "--no-wandb"]) == 1
    assert capsys.readouterr().err == f"error: results folder {missing} does not exist\n"
    assert not missing.exists()
    missing.mkdir()
    assert command(["--results", str(missing), "--no-wandb"]) == 1
    assert capsys.readouterr().err.startswith(f"error: no experiment folders (with sweep.json) under {missing}")
    assert list(missing.iterdir()) == []
    assert command(["--results", str(missing), "--sweep", "Hopper-sweep-smoke", "--no-wandb"]) == 1
    assert capsys.readouterr().err == f"error: sweep folder {missing / 'Hopper-sweep-smoke'} does not exist\n"
    assert list(missing.iterdir()) == []
