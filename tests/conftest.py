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
SMALL_TASK = "InvertedPendulum-v5"  # the learner tests' task (small_config)


def small_config(**training):
    """A SACSVGConfig of SMALL_TASK at the small network sizes, with short phases; `training` overrides."""
    from algorithms.sac_svg import SACSVGConfig
    from sweeps.budgets import SMALL_NETWORKS

    sizes = SMALL_NETWORKS | dict(batch_size=128, seq_batch_size=128, num_seq_updates=1, num_random_steps=200,
                                  actor_warmup_steps=500, replay_capacity=20_000, report_interval_steps=500,
                                  eval_interval_steps=1000, eval_episodes=2, total_env_steps=4000)
    return (SACSVGConfig().environment(SMALL_TASK).env_runners(num_env_runners=0)
            .training(**(sizes | training)).debugging(seed=0))


# The fast-path comparisons (test_sac_svg_fastpath, test_critic_mve): the same updates on two learners.
# Tight clipping so the clipped paths are exercised; warm-up ends mid-run so both actor losses are used.
SETTINGS = dict(hidden_dim=32, model_hidden_dim=32, gru_hidden_dim=32, batch_size=64, seq_batch_size=64,
                num_seq_updates=2, num_random_steps=250, actor_warmup_steps=258, replay_capacity=1000,
                actor_grad_clip=0.05, critic_grad_clip=0.05, dynamics_grad_clip=0.05, horizon=2,
                total_env_steps=1000, target_entropy_beta=0.9, target_entropy_init=0.0, target_entropy_final=-2.0)


def fastpath_learner(gpus: float = 0, **fast):
    """A learner of SMALL_TASK with SETTINGS; `fast` overrides (the path's switches)."""
    import gymnasium as gym

    from algorithms.sac_svg import SACSVGConfig

    return (SACSVGConfig().environment(SMALL_TASK).env_runners(num_env_runners=0).learners(num_gpus_per_learner=gpus)
            .training(**(SETTINGS | fast)).debugging(seed=0)).build_learner(env=gym.make(SMALL_TASK))


def parameters(learner) -> dict:
    return {n: p.detach().clone() for n, p in learner.rl_module.named_parameters()}


def run_updates(learner, data, reference_state) -> dict:
    """From `reference_state`: the random phase, then 15 env steps of updates; the parameters and stats."""
    import torch

    learner.rl_module.load_state_dict(reference_state)
    torch.manual_seed(0)  # the actor's noise
    learner.update_from_transitions({k: v[:250] for k, v in data.items()})  # fills D (the random phase)
    stats = [learner.update_from_transitions({k: v[250 + 5 * i:255 + 5 * i] for k, v in data.items()})
             for i in range(3)]  # 15 env steps, across the end of the actor warm-up
    return parameters(learner) | {"stats": stats}


def assert_same_run(fast, slow, start: dict | None = None):
    """The same parameters elementwise; with `start`, the same movement from it per tensor, to 1% in norm.

    Compiled kernels round differently, and Adam turns a rounding difference in a gradient element near zero
    into a different step of up to lr for that element, which an elementwise check meets now and then."""
    import numpy as np
    import torch

    stats_fast, stats_slow = fast.pop("stats"), slow.pop("stats")
    assert fast.keys() == slow.keys()
    for name in fast:
        if start is None:
            torch.testing.assert_close(fast[name], slow[name], rtol=1e-4, atol=1e-5, msg=name)
        else:
            moved = torch.linalg.vector_norm(slow[name] - start[name])
            assert torch.linalg.vector_norm(fast[name] - slow[name]) <= 0.01 * moved, name
    for a, b in zip(stats_fast, stats_slow):
        assert a["num_updates"] == b["num_updates"] > 0 and a.keys() == b.keys()
        metrics = sorted(a.keys() - {"learner_ms_per_update"})  # the only one that may differ: a timing
        np.testing.assert_allclose([a[k] for k in metrics], [b[k] for k in metrics], rtol=1e-4, atol=1e-6)

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
