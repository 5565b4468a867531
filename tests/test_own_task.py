"""Any task a researcher brings (tasks/resolve.py, tasks/names.py): gymnasium ids, gymnasium's module:EnvId, a
class or factory path; what is derived; the one-line errors before Ray starts; the task's names. No Ray here."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from agents.load import AgentInputError, task_named
from algorithms.sac_svg.random_policy import random_transitions
from dashboards.load import task_info
from sweeps import cli, plan
from tasks import TASKS, TaskError, get_task, make_env, names, rllib_env_id, shipped_modules
from tests.conftest import REPO

OWN = "tests.own_envs"


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo's MUJOCO_LOG.TXT and any results stay out of the repository


# --- what TASK= takes, and what is derived -------------------------------------------------------------

@pytest.mark.parametrize("name, obs_dim, act_dim, limit", [
    ("InvertedPendulum-v5", 4, 1, 1000), ("Pendulum-v1", 3, 1, 200), ("Humanoid-v5", 348, 17, 1000),
    ("Reacher-v5", 10, 2, 50)])
def test_a_gymnasium_id_is_a_task_with_derived_sizes_limit_and_schedule(name, obs_dim, act_dim, limit):
    task = get_task(name)
    assert (task.name, task.suite, task.obs_dim, task.act_dim, task.max_episode_steps) == (
        name, "gym", obs_dim, act_dim, limit)
    assert (task.train_steps, task.eval_interval) == (200_000, 10_000)  # POPLIN's length and eval interval
    # SAC's -|A|, held constant (eq. 14 with H_init = H_final)
    assert (task.schedule.target_entropy_init, task.schedule.target_entropy_final) == (-act_dim, -act_dim)
    assert task.schedule.target_entropy_beta is None and task.official_schedule is None
    env = make_env(task)
    assert env.reset(seed=0)[0].shape == (obs_dim,) and env.action_space.shape == (act_dim,)


def test_registry_names_keep_their_meaning():
    assert get_task("hopper") is TASKS["Hopper"] and get_task("Hopper-v5").suite == "gym"


def test_a_researchers_class_factory_and_module_id():
    arm = get_task(f"{OWN}:Arm")  # a class: Dict observations flattened, 2 + 3
    assert (arm.obs_dim, arm.act_dim, arm.max_episode_steps, arm.module) == (5, 2, 1000, OWN)
    registered = get_task(f"{OWN}:OwnArm-v0")  # gymnasium's module:EnvId (the import registers the id)
    assert (registered.obs_dim, registered.max_episode_steps, registered.entry_point) == (5, 50, None)
    # The rule for a name that is both: an id the import registered wins over the attribute of that name.
    assert get_task(f"{OWN}:make_arm").max_episode_steps == 7
    env = make_env(arm)
    env.reset(seed=0)
    env.step(np.array([-1.0, 1.0]))
    assert np.allclose(env.unwrapped.last_action, [-2.0, 4.0])  # [-1, 1] rescaled to the Box's own bounds


def test_the_episode_limit_can_be_changed_per_environment():
    env = make_env(get_task("Pendulum-v1"), max_episode_steps=5)  # what --set env_config=... passes
    env.reset(seed=0)
    truncated = [env.step(np.zeros(1))[3] for _ in range(5)]
    assert truncated == [False] * 4 + [True]


def test_derived_values_are_overridden_with_set(tmp_path):
    made = plan.make_plan(cli.parse_args(
        ["--task", "Pendulum-v1", "--budget", "paper", "--results", str(tmp_path), "--set", "total_env_steps=30000",
         "eval_interval_steps=2000", "target_entropy_init=0", "target_entropy_final=-3", "target_entropy_beta=2"],
        mode="train"))
    config = made.base_config
    assert (config["total_env_steps"], config["eval_interval_steps"]) == (30_000, 2000)
    assert made.trials[0]["target_entropy_init"] == 0 and made.trials[0]["target_entropy_beta"] == 2
    default = plan.make_plan(cli.parse_args(["--task", "Pendulum-v1", "--budget", "paper"], mode="train"))
    assert default.base_config["total_env_steps"] == 200_000 and default.trials[0]["target_entropy_init"] == -1


def test_a_task_that_never_terminates_has_no_terminations_in_its_data():
    data = random_transitions(450, "Pendulum-v1")  # two time limits inside: truncations, not terminations
    assert data["episode"].max() == 2 and not data["terminated"].any()


def test_a_termination_model_trained_on_no_terminations_learns_d_zero():
    """The rule for a task that never terminates: the termination model is still trained (eq. 13) and learns
    d = 0, so imagined rollouts keep every step (not-done 1 - sigmoid(d) near 1)."""
    from algorithms.sac_svg.gru import GRUDynamics
    from algorithms.sac_svg.losses import termination_loss
    from algorithms.sac_svg.world_model import WorldModel

    torch.manual_seed(0)
    model = WorldModel(obs_dim=3, act_dim=1, hidden_dim=32, hidden_depth=1,
                       dynamics=GRUDynamics(3, 1, 32, 1, 1, 16, 1, detach_feedback=True))
    optimizer = torch.optim.Adam(model.termination.parameters(), lr=1e-2)
    x, u = torch.randn(256, 3), torch.rand(256, 1) * 2 - 1
    before = torch.sigmoid(model.termination_logit(x, u)).mean().item()
    for balance in (False, True):  # with and without the official code's class balancing
        for _ in range(100):
            optimizer.zero_grad()
            termination_loss(model, x, u, torch.zeros(256), balance_classes=balance).backward()
            optimizer.step()
    after = torch.sigmoid(model.termination_logit(torch.randn(256, 3), torch.rand(256, 1) * 2 - 1))
    assert before > 0.3 and after.max().item() < 0.01


# --- bad input: one line naming the task and what to change, before Ray, nothing written -----------------

BAD = [
    ("InvertedPendlum-v5", "not a gymnasium id. Closest: InvertedPendulum-v5"),
    ("no_such_module_xyz:Arm-v0", "module 'no_such_module_xyz' does not import (ModuleNotFoundError"),
    (f"{OWN}:Nothing", "has no class or function 'Nothing'"),
    ("CartPole-v1", "action space is Discrete(2); SAC-SVG(H) needs continuous actions"),
    (f"{OWN}:DiscreteArm", "action space is Discrete(3)"),
    (f"{OWN}:UnboundedArm", "is unbounded; give the Box finite low and high"),
    (f"{OWN}:CameraArm", "of shape (8, 8, 3) are not a flat vector"),
    (f"{OWN}:ResetFails", "its reset raised RuntimeError: the simulator lost its license server"),
    (f"{OWN}:StepFails", "its first step raised ValueError: joint 3 does not exist"),
    (f"{OWN}:NanArm", "its observation after reset is not finite"),
    (f"{OWN}:not_an_env", "raised TypeError: The environment must inherit from the gymnasium.Env class"),
]


@pytest.mark.parametrize("name, said", BAD)
def test_bad_task_is_one_line_naming_it_and_what_to_change(name, said):
    with pytest.raises(TaskError) as info:
        get_task(name)
    message = str(info.value)
    assert message.startswith(f"TASK={name}: ") and said in message and "\n" not in message


@pytest.mark.parametrize("name, said", BAD[:1] + BAD[7:8])
def test_bad_task_stops_the_command_before_ray_and_writes_nothing(name, said, tmp_path):
    results = tmp_path / "results"
    process = subprocess.run([sys.executable, "-m", "sweeps.train", "--task", name, "--budget", "smoke",
                              "--results", str(results)], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and lines == [f"error: {lines[0].removeprefix('error: ')}"] and said in lines[0]
    assert "Ray" not in process.stdout + process.stderr and not results.exists()


# --- the task's names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, file", [("Walker2d", "Walker2d"), ("dm_control/cheetah-run-v0",
                                                                    "dm_control_cheetah-run-v0"),
                                        ("my_envs:Arm-v0", "my_envs_Arm-v0"), ("../x y", "_x_y")])
def test_names_env_id_round_trip_and_safe_file_name(name, file):
    assert names.task_name(names.env_id(name)) == name and names.env_id(name).startswith("svglab/")
    assert names.file_name(name) == file


def test_the_experiment_folder_is_a_safe_file_name_and_the_manifest_keeps_the_typed_name(tmp_path):
    made = plan.make_plan(cli.parse_args(["--task", f"{OWN}:OwnArm-v0", "--budget", "smoke", "--results",
                                          str(tmp_path)], mode="sweep"))
    assert made.exp_dir.name == "tests.own_envs_OwnArm-v0-sweep-smoke"
    assert made.manifest["task"] == f"{OWN}:OwnArm-v0" and made.manifest["suite"] == "gym"
    assert made.base_config["env"] == rllib_env_id(f"{OWN}:OwnArm-v0") == f"svglab/{OWN}:OwnArm-v0"


def test_the_rllib_creator_builds_the_resolved_task():
    from ray.tune.registry import ENV_CREATOR, _global_registry

    env = _global_registry.get(ENV_CREATOR, rllib_env_id(f"{OWN}:Arm"))({})
    assert env.reset(seed=0)[0].shape == (5,) and env.action_space.high.tolist() == [1.0, 1.0]


# --- what reads a results folder never imports a researcher's module ------------------------------------

def test_reading_a_folder_never_imports_the_module_it_names(tmp_path):
    name = "svglab_never_imported_xyz:Arm-v0"
    info = task_info(name, "gym")
    assert (info.name, info.paper_name, info.schedule) == (name, name, None)
    with pytest.raises(AgentInputError, match=r"name it yourself to run it, --task svglab_never_imported_xyz:Arm-v0"):
        task_named(name, tmp_path)
    assert "svglab_never_imported_xyz" not in sys.modules


def test_shipped_modules_are_the_researchers_own_package():
    assert shipped_modules(get_task("Walker2d")) == shipped_modules(get_task("Pendulum-v1")) == []
    assert [m.__name__ for m in shipped_modules(get_task(f"{OWN}:Arm"))] == ["tests"]


def test_make_tasks_says_how_to_name_any_other_task():
    process = subprocess.run([sys.executable, "-m", "tasks"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "TASK=InvertedPendulum-v5" in process.stdout and "module:EnvId" in process.stdout
    named = subprocess.run([sys.executable, "-m", "tasks", "Pendulum-v1"], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert named.stdout.splitlines()[1].split()[:5] == ["Pendulum-v1", "gym", "3", "1", "200,000"]


# --- every command on such a task (Ray end to end, smoke size) ------------------------------------------

def _ok(process) -> str:
    assert process.returncode == 0, f"{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
    return process.stdout


@pytest.mark.slow
def test_train_a_gymnasium_id_then_tables_evaluate_video_and_export(tmp_path):
    from tests.conftest import assert_no_trial_failed, run_cli

    results = tmp_path / "results"
    _ok(run_cli("--task", "InvertedPendulum-v5", "--budget", "smoke", "--results", str(results), "--no-dashboard",
                module="sweeps.train"))
    exp = results / "InvertedPendulum-v5-train-smoke"
    assert_no_trial_failed(exp)
    _ok(run_cli("--results", str(results), "--no-wandb", module="dashboards.tables"))
    assert "InvertedPendulum-v5" in (results / "tables" / "table2.csv").read_text()
    evaluated = _ok(run_cli(str(exp), "--episodes", "2", module="agents.evaluate"))
    assert "InvertedPendulum-v5: 2 episode(s)" in evaluated
    _ok(run_cli(str(exp), "--out", str(tmp_path / "policy"), module="agents.export"))
    video = _ok(run_cli(str(exp), "--out", str(tmp_path / "pendulum.mp4"), "--size", "64", module="agents.video"))
    assert (tmp_path / "pendulum.mp4").stat().st_size > 0 and "of InvertedPendulum-v5" in video


@pytest.mark.slow
def test_sweep_a_researchers_class_then_tables_evaluate_and_videos_message(tmp_path):
    from tests.conftest import assert_no_trial_failed, run_cli

    task, results = f"{OWN}:Arm", tmp_path / "results"
    _ok(run_cli("--task", task, "--budget", "smoke", "--num-samples", "1", "--results", str(results),
                "--no-dashboard"))
    exp = results / "tests.own_envs_Arm-sweep-smoke"  # a safe folder name; the tables say the task as typed
    assert_no_trial_failed(exp)
    _ok(run_cli("--results", str(results), "--no-wandb", module="dashboards.tables"))
    assert f"| {task} |" in (results / "tables" / "table4.md").read_text()
    refused = run_cli(str(exp), "--episodes", "1", module="agents.evaluate")
    assert refused.returncode == 2 and f"--task {task}" in refused.stderr
    assert f"{task}: 1 episode(s)" in _ok(run_cli(str(exp), "--episodes", "1", "--task", task,
                                                   module="agents.evaluate"))
    video = run_cli(str(exp), "--task", task, "--out", str(tmp_path / "arm.mp4"), module="agents.video")
    assert video.returncode == 2 and f"TASK={task} draws no rgb_array frames" in video.stderr
