"""GPU placement and RLlib's resource fields (sweeps.placement, `--set`): what a trial asks Ray for, read
from RLlib's own `default_resource_request`, without starting Ray and without a GPU."""

from __future__ import annotations

import gymnasium as gym
import pytest
import ray

from algorithms.sac_svg import SACSVG
from sweeps import cli, placement
from sweeps import plan as plans
from sweeps.experiment import parse_overrides
from tests.conftest import small_config


def plan_for(*argv, budget="paper"):
    return plans.make_plan(cli.parse_args(["--task", "Walker2d", "--budget", budget, *argv]))


def bundles(plan) -> list[dict]:
    """The placement group of the plan's first trial, from RLlib (which leaves out zero amounts)."""
    request = SACSVG.default_resource_request({**plan.param_space, **plan.trials[0]})
    return [{"CPU": bundle.get("CPU", 0), "GPU": bundle.get("GPU", 0)} for bundle in request.bundles]


def test_resource_fields_take_fractions_numbers_and_auto():
    parsed = parse_overrides(["num_gpus_per_learner=0.25", "num_cpus_per_learner=2",
                              "num_cpus_per_env_runner=0.5", "num_gpus=0"])
    assert parsed == {"num_gpus_per_learner": 0.25, "num_cpus_per_learner": 2, "num_cpus_per_env_runner": 0.5,
                      "num_gpus": 0}
    assert type(parsed["num_cpus_per_learner"]) is int
    assert parse_overrides(["num_cpus_per_learner=auto"]) == {"num_cpus_per_learner": "auto"}


def test_set_cpus_per_learner_reaches_rllibs_bundles_as_a_number():
    """`--set num_cpus_per_learner=2` arrives as the number 2 (as a string it would crash RLlib's bundle code)."""
    plan = plan_for("--set", "num_cpus_per_learner=2", "--set", "num_gpus_per_learner=0.25", "--num-samples", "1")
    main_process, env_runner = bundles(plan)
    assert main_process == {"CPU": 2, "GPU": 0.25}  # max(num_cpus_per_learner, num_cpus_for_main_process)
    assert env_runner == {"CPU": 1, "GPU": 0}


@pytest.mark.parametrize("args, message", [
    (["--gpus-per-trial", "-0.5"], "--gpus-per-trial -0.5: expected 'auto' or a fraction of one GPU in [0, 1]"),
    (["--gpus-per-trial", "1.5"], "--gpus-per-trial 1.5: expected 'auto' or a fraction"),
    (["--gpus-per-trial", "half"], "--gpus-per-trial half: expected"),
    (["--gpus-per-trial", "0.5", "--set", "num_gpus_per_learner=0.5"], "set the same thing: give one of them"),
    (["--set", "num_gpus_per_learner=-1"], "num_gpus_per_learner=-1 must be a finite number >= 0"),
    (["--set", "num_gpus_per_learner=1.5"], "Ray gives fractions only of a single resource"),
    (["--set", "num_gpus_per_learner=2"], "the one SAC-SVG learner runs on one device"),
    (["--set", "num_cpus_per_learner=lots"], "num_cpus_per_learner='lots': expected a number >= 0 or 'auto'"),
    (["--set", "num_gpus_per_learner=auto"], "num_gpus_per_learner='auto': expected a number >= 0"),
    (["--set", "num_cpus_per_env_runner=inf"], "num_cpus_per_env_runner=inf must be a finite number"),
])
def test_nonsense_resources_fail_before_ray_and_write_nothing(tmp_path, capsys, args, message):
    results = tmp_path / "results"
    assert cli.main(["--task", "Hopper", "--budget", "smoke", "--results", str(results), *args]) == 2
    assert message in capsys.readouterr().err
    assert not results.exists()
    assert not ray.is_initialized()


def test_gpus_per_trial_puts_the_learner_on_a_gpu_fraction_and_env_runners_on_cpus():
    plan = plan_for("--gpus-per-trial", "0.25", "--num-samples", "2", budget="short")
    assert plan.param_space["num_gpus_per_learner"] == 0.25 and plan.gpus_per_trial == 0.25
    main_process, env_runner = bundles(plan)
    assert main_process["GPU"] == 0.25 and env_runner["GPU"] == 0
    assert plan_for("--gpus-per-trial", "0", budget="short").param_space["num_gpus_per_learner"] == 0


@pytest.mark.parametrize("cluster, trials, max_concurrent, expected", [
    ({"CPU": 64, "GPU": 8}, 20, None, 0.3333),  # 20 trials at once on 8 GPUs: 3 per card
    ({"CPU": 64, "GPU": 8}, 8, None, 1),  # one card per trial
    ({"CPU": 16, "GPU": 1}, 20, None, 0.125),  # 8 trials fit the CPUs (2 each): 8 share the card
    ({"CPU": 64, "GPU": 2}, 20, 4, 0.5),  # --max-concurrent 4
    ({"CPU": 64}, 20, None, 0),  # no GPU: CPUs only
])
def test_auto_shares_the_gpus_among_the_trials_that_run_at_once(cluster, trials, max_concurrent, expected):
    assert placement.auto_gpus_per_trial(cluster, 2, trials, max_concurrent) == expected


def test_paper_trial_on_a_gpu_cluster_asks_for_a_fractional_gpu_for_its_learner(monkeypatch, capsys):
    """The paper budget's default ("auto"), resolved from the cluster's resources as after Ray starts."""
    plan = plan_for()  # paper budget: 20 trials, 2 CPUs each (main process + one env runner)
    assert plan.gpus_per_trial == placement.AUTO and plan.param_space["num_gpus_per_learner"] == 0
    assert placement.cpus_per_trial({**plan.param_space, **plan.trials[0]}) == 2
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 64.0, "GPU": 8.0})
    placement.place_learners(plan.param_space, plan.gpus_per_trial, plan.trials, None)
    main_process, env_runner = bundles(plan)
    assert main_process == {"CPU": 1, "GPU": 0.3333}  # the local learner lives in the main process
    assert env_runner == {"CPU": 1, "GPU": 0}
    assert "each trial's learner on 0.3333 of a GPU (8 GPUs in the cluster, auto)" in capsys.readouterr().out


def test_paper_trial_without_gpus_stays_on_cpus(monkeypatch):
    plan = plan_for()
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert placement.place_learners(plan.param_space, plan.gpus_per_trial, plan.trials, None) == 0
    assert all(bundle["GPU"] == 0 for bundle in bundles(plan))


def test_learner_asks_rllib_for_its_gpu_device(monkeypatch):
    """The learner's device comes from RLlib's get_device with num_gpus_per_learner: in a trial that holds
    a GPU fraction, that is the trial's GPU; the replay buffer and networks live there."""
    import torch
    from ray.rllib.core.learner.torch import torch_learner

    asked = []

    def get_device(config, num_gpus_requested=1):
        asked.append(num_gpus_requested)
        return torch.device("cpu")  # this machine has no GPU: stand in for cuda:0

    monkeypatch.setattr(torch_learner, "get_device", get_device)
    learner = small_config().learners(num_gpus_per_learner=0.25).build_learner(env=gym.make("InvertedPendulum-v5"))
    assert asked == [0.25]
    assert learner.replay.device == learner._device
    assert next(learner.rl_module.parameters()).device == learner._device
