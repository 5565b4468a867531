"""Shared fixtures. `smoke_sweep` runs ONE real smoke sweep per test session (about 1-2 minutes on 2 CPU
cores) and hands its experiment folder to every test that asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE_TASK = "Hopper"  # early terminations keep evaluation episodes short


def run_cli(*args: str, module: str = "sweeps.sweep", timeout: float = 600, env: dict | None = None):
    """`python -m <module> <args>` from the repository root, W&B forced offline; returns CompletedProcess."""
    environment = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}
    environment.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def assert_no_trial_failed(exp_dir: Path) -> None:
    """A run expected to go without a fault had none: no trial wrote Tune's error file, which Tune writes on
    every failure, also one that a retry then recovered from."""
    errors = sorted(exp_dir.glob("*/error.txt"))
    assert not errors, "trials failed (and may have been retried): " + "\n".join(
        f"{e}:\n{e.read_text()[-2000:]}" for e in errors)


@pytest.fixture(scope="session", autouse=True)
def signing_key_folder(tmp_path_factory) -> Path:
    """The sweep driver's signing key (sweeps.signing) in a config folder of the test session's, never the
    user's own: XDG_CONFIG_HOME, which the CLIs the tests start inherit."""
    folder = tmp_path_factory.mktemp("config")
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["XDG_CONFIG_HOME"]
    else:
        os.environ["XDG_CONFIG_HOME"] = previous


@pytest.fixture(scope="module")
def local_ray():
    """An embedded Ray for the tests of one module that build algorithms with env runner processes."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory) -> Path:
    """The experiment folder of a real `--budget smoke` sweep of Hopper: 2 trials x 1,500 env steps,
    evaluated twice each, W&B offline, no dashboard (tests may run beside another Ray)."""
    results = tmp_path_factory.mktemp("results")
    process = run_cli("--task", SMOKE_TASK, "--budget", "smoke", "--results", str(results), "--no-dashboard")
    exp_dir = results / f"{SMOKE_TASK}-sweep-smoke"
    assert process.returncode == 0, f"smoke sweep failed:\n{process.stdout[-5000:]}\n{process.stderr[-5000:]}"
    assert_no_trial_failed(exp_dir)
    (results / "smoke-sweep.stdout").write_text(process.stdout)  # for tests of the terminal output
    (results / "smoke-sweep.stderr").write_text(process.stderr)
    return exp_dir
