"""Memory decided before Ray starts (sweeps.memory_fit): the replay's bytes from its columns' dtypes, and a run
whose trials cannot fit fails with the sizes and what to change, writing nothing."""

from __future__ import annotations

import pytest

from sweeps import cli
from sweeps.budgets import get_budget
from sweeps.experiment import build_config
from sweeps.memory_fit import GIB, Machine, MemoryFitError, check_fits, transition_bytes
from tasks import get_task


def hand_transition_bytes(obs_dim: int, act_dim: int) -> int:
    """float32 x, x' (obs_dim each), u (act_dim), r, terminated; int64 episode, t, next slot."""
    return 4 * (2 * obs_dim + act_dim + 2) + 8 * 3


@pytest.mark.parametrize("task", ["Walker2d", "Humanoid", "poplin-swimmer"])
def test_a_transition_takes_the_bytes_of_the_replays_columns(task):
    from algorithms.sac_svg.replay import TransitionReplay

    t = get_task(task)
    assert transition_bytes(t.obs_dim, t.act_dim) == hand_transition_bytes(t.obs_dim, t.act_dim)
    replay = TransitionReplay(capacity=1000, obs_dim=t.obs_dim, act_dim=t.act_dim, device="cpu", seed=0)
    assert sum(c.nbytes for c in replay.data.values()) == 1000 * transition_bytes(t.obs_dim, t.act_dim)


def test_a_replay_that_cannot_fit_fails_before_ray_with_the_sizes(tmp_path, capsys):
    results = tmp_path / "results"
    code = cli.main(["--task", "Walker2d", "--budget", "smoke", "--results", str(results),
                     "--set", "replay_capacity=4000000000"])
    err = capsys.readouterr().err
    assert code == 2, err
    replay_gib = 4_000_000_000 * hand_transition_bytes(17, 6) / GIB  # 715.26 GiB
    assert f"replay {replay_gib:.2f} GiB (replay_capacity 4,000,000,000 x 192 bytes per transition)" in err
    assert "Lower replay_capacity (--set replay_capacity=" in err and "Nothing was written" in err
    assert not results.exists()


def paper_trials(task: str, count: int) -> list:
    return [build_config(get_task(task), get_budget("paper"))] * count


def test_the_trials_at_once_must_fit_the_machine():
    """Paper Walker2d: 0.26 GiB a trial (0.18 replay + 0.09 networks), 2 CPUs each: 4 at once on 8 CPUs."""
    task, configs = get_task("Walker2d"), paper_trials("Walker2d", 20)
    need = check_fits(task, configs, 0, None, Machine(cpus=8, memory=2 * GIB))
    assert need.replay_bytes == 1_000_000 * 192 and 0.05 * GIB < need.network_bytes < 0.2 * GIB
    with pytest.raises(MemoryFitError, match=r"4 trial\(s\) run at once: 1.06 GiB, and this machine has 0.60 GiB. "
                                             r"Run fewer at once \(--max-concurrent 2\)"):
        check_fits(task, configs, 0, None, Machine(cpus=8, memory=int(0.6 * GIB)))
    check_fits(task, configs, 0, 2, Machine(cpus=8, memory=int(0.6 * GIB)))  # --max-concurrent 2 fits


def test_each_trial_must_fit_its_gpu_share(monkeypatch):
    """auto on 16 CPUs and one 1 GiB card: 8 trials at once share it, 0.125 GiB each, less than 0.26 GiB."""
    task, configs = get_task("Walker2d"), paper_trials("Walker2d", 20)
    machine = Machine(cpus=16, memory=1, gpu_memory=[GIB])  # the host's memory does not hold GPU learners
    with pytest.raises(MemoryFitError, match=r"0.125 of a 1.0 GiB GPU is 0.12 GiB.*--gpus-per-trial 0.27 or more"):
        check_fits(task, configs, "auto", None, machine)
    check_fits(task, configs, 0.5, None, machine)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # trials on a cluster's machines: not checked here
    check_fits(task, configs, "auto", None, machine)
