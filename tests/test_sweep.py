"""`make sweep` / `make reproduce` / `make train` (sweeps.sweep): input validation before Ray starts, a
real smoke sweep end to end (the shared `smoke_sweep` fixture), the output layout, W&B offline files,
reproduce/train plans, and resume after Ctrl-C without rerunning finished trials."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import types

import pandas as pd
import pytest

from sweeps import cli, progress
from sweeps import plan as plans
from sweeps import results as sweep_results
from sweeps import search_space as ss
from sweeps.budgets import get_budget
from sweeps.experiment import build_config
from tasks import get_task
from tasks.registry import TASKS
from tests.conftest import REPO, SMOKE_TASK, assert_no_trial_failed, run_cli
from tests.test_trust import write_checkpoint

SCHEDULE_KEYS = list(ss.TARGET_ENTROPY_KEYS)


def trial_dirs(exp_dir):
    return sorted(p.parent for p in exp_dir.glob("*/params.json"))


def results_of(trial_dir) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ bad input


def test_unknown_task_exits_before_ray_and_writes_nothing(tmp_path):
    results = tmp_path / "results"
    process = run_cli("--task", "Walkr", "--budget", "smoke", "--results", str(results), timeout=120)
    assert process.returncode == 2
    assert "TASK=Walkr: not a registry task" in process.stderr and "Closest: Walker2d" in process.stderr
    assert "Started a local Ray" not in process.stdout + process.stderr
    assert not results.exists()


@pytest.mark.parametrize("args, message", [
    (["--budget", "huge"], "Unknown budget 'huge'. Valid budgets: paper, short, smoke."),
    (["--budget", "smok"], "Did you mean 'smoke'?"),
    (["--set", "nosuchfield=1"], "unknown config field 'nosuchfield'"),
    (["--set", "horizon=abc"], "--set horizon=abc: horizon takes int values"),
    (["--set", "horizon"], "expected key=value"),
    (["--set", "horizon=-1"], "horizon=-1 must be >= 0"),  # the field's annotation, before Ray
    (["--set", "actor_lr=nan"], "--set actor_lr=nan must be a finite number"),
    (["--set", "tau=nan"], "--set tau=nan must be a finite number"),
    (["--set", "init_alpha=inf"], "--set init_alpha=inf must be a finite number"),
    (["--set", "tau=1.5"], "--set tau=1.5 must be in (0, 1]"),
    (["--set", "critic_mve=ful"], "critic_mve='ful' must be one of ('none', 'target', 'full') (did you mean 'full'?)"),
    (["--set", "critic_mve=full", "critic_horizon=0"], "critic_mve='full' with critic_horizon=0"),  # validate()
    (["--set", "seed=3"], "--set seed: set per trial by the sweep"),
    (["--set", "target_entropy_beta=2"], "--set target_entropy_beta: set per trial by the sweep"),
    (["--space", "nosuchspace"], "neither a built-in space"),
    (["--mode", "reproduce", "--num-seeds", "0"], "--num-seeds must be from 1 to 10,000, got 0"),
    (["--num-samples", "-1"], "--num-samples must be from 1 to 10,000, got -1"),
    (["--num-samples", "100000000"], "--num-samples must be from 1 to 10,000, got 100000000"),
    (["--seed", "-1"], "--seed -1: give a seed from 0 to 2,147,483,647"),
    (["--seed", "99999999999"], "--seed 99999999999: give a seed from 0 to 2,147,483,647"),
    (["--mode", "reproduce", "--seed", "2147483647"], "the trials' seeds reach 2,147,483,648"),
    (["--space", "official", "--num-samples", "5000", "--num-seeds", "10"], "50,000 trials, more than 10,000"),
    (["--mode", "train", "--num-seeds", "2"], "--num-seeds applies to sweep, reproduce and ablation, not train"),
    (["--mode", "reproduce", "--num-samples", "2"], "--num-samples applies to sweep, not reproduce"),
    (["--mode", "reproduce", "--from-sweep", "/nonexistent"], "--from-sweep /nonexistent: no such folder"),
])
def test_bad_inputs_fail_with_their_message_and_write_nothing(tmp_path, capsys, args, message):
    results = tmp_path / "results"
    code = cli.main(["--task", "Hopper", "--budget", "smoke", "--results", str(results), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


@pytest.mark.parametrize("text, message", [
    ("params: [unclosed", "cannot parse"),
    ("params:\n  target_entropy_init: []\n", "non-empty list"),
    ("params:\n  no_such_field: [1]\n", "params ['no_such_field'] are not algorithm config fields"),
    ('{"params": {"target_entropy_init": [1], "target_entropy_final": ["$target_entropy_init..-1000000000"]}}',
     "params.target_entropy_final: '$target_entropy_init..-1000000000': from 1 to -1000000000 is more than 1,000"),
    ('{"params": {"target_entropy_init": [1e300], "target_entropy_final": ["$target_entropy_init..-4"]}}',
     "from 1e+300 to -4 is more than 1,000 categories"),
    ('{"params": {"target_entropy_init": ["abc", 1]}}',
     "params.target_entropy_init: categories ['abc'] do not fit the field (default None): give numbers"),
    ('{"params": {"target_entropy_beta": [NaN]}}', "params.target_entropy_beta: category nan is not a finite number"),
    ('{"params": {"target_entropy_beta": [Infinity, 2]}}', "category inf is not a finite number"),
    ('{"params": {"dynamics_model": [1]}}', "params.dynamics_model: categories [1] do not fit the field"),
    ('{"params": {"horizon": [1]}, "num_samples": 1000000000}', "num_samples must be an integer from 1 to 10,000"),
    ('{"params": {"horizon": [1]}, "seeds": [1, 5000000000]}', "seeds must be integers from 0 to 2,147,483,647"),
])
def test_malformed_space_file_fails_and_writes_nothing(tmp_path, capsys, text, message):
    space = tmp_path / ("space.json" if text.startswith("{") else "space.yaml")
    space.write_text(text)
    results = tmp_path / "results"
    assert cli.main(["--task", "Hopper", "--budget", "smoke", "--results", str(results),
                       "--space", str(space)]) == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


# ---------------------------------------------------------------------------------------------- plans


def plan_for(*argv, mode="sweep"):
    return plans.make_plan(cli.parse_args(["--task", "Hopper", "--budget", "smoke", *argv], mode))


def test_sweep_plan_is_the_seeded_draw_at_horizon_2(tmp_path):
    plan = plan_for("--results", str(tmp_path), "--seed", "5")
    assert plan.trials == ss.sample_configs(ss.load_space("paper"), 5, num_samples=2)
    assert plan.exp_dir.local == tmp_path.resolve() / "Hopper-sweep-smoke"
    assert plan.param_space["horizon"] == 2 and plan.param_space["env"] == "svglab/Hopper"
    assert plan.manifest["sweep_seed"] == 5 and plan.manifest["trials"] == plan.trials
    assert not tmp_path.joinpath("Hopper-sweep-smoke").exists()  # planning writes nothing


def test_overrides_reach_every_trial_config():
    plan = plan_for("--set", "horizon=3", "--set", "actor_lr=3e-4", "--num-samples", "3")
    assert len(plan.trials) == 3
    assert plan.param_space["horizon"] == 3 and plan.param_space["actor_lr"] == 3e-4
    assert plan.manifest["overrides"] == {"horizon": 3, "actor_lr": 3e-4}


def test_reproduce_plan_runs_the_schedule_and_the_sac_baseline_with_the_same_seeds():
    plan = plan_for("--set", "horizon=3", mode="reproduce")
    task, budget = get_task("Hopper"), get_budget("smoke")
    seeds = list(range(1, budget.num_seeds + 1))
    schedule = {"target_entropy_init": task.schedule.target_entropy_init,
                "target_entropy_final": task.schedule.target_entropy_final,
                "target_entropy_beta": task.schedule.target_entropy_beta}
    assert plan.trials == [{**schedule, "horizon": h, "seed": s} for h in (3, 0) for s in seeds]
    assert plan.exp_dir.name == "Hopper-reproduce-smoke"


def test_num_seeds_sets_the_seeds_of_reproduce_and_caps_a_sweep_space():
    plan = plan_for("--num-seeds", "3", "--seed", "4", mode="reproduce")
    assert [(t["horizon"], t["seed"]) for t in plan.trials] == [(h, s) for h in (2, 0) for s in (4, 5, 6)]
    official = plan_for("--space", "official", "--num-samples", "2", "--num-seeds", "3")
    assert sorted({t["seed"] for t in official.trials}) == [1, 2, 3] and len(official.trials) == 2 * 3


def test_short_budget_is_table3_structure_at_reduced_cost():
    """BUDGET=short: 128 units, batches 256/256, 25k steps (at most the task's), one CPU per trial, compiled
    updates (faster at these sizes)."""
    config = build_config(get_task("poplin-pets-cheetah"), get_budget("short"))
    assert (config.hidden_dim, config.model_hidden_dim, config.gru_hidden_dim) == (128, 128, 128)
    assert (config.batch_size, config.seq_batch_size, config.num_seq_updates) == (256, 256, 4)
    assert config.horizon == 2 and config.total_env_steps == 25_000 and config.eval_interval_steps == 2_500
    assert config.eval_episodes == 5 and config.actor_warmup_steps == 2_500
    assert config.learner_cpu_threads == 1 and get_budget("short").max_concurrent_trials == 2
    assert config.compile_updates and not build_config(get_task("Hopper"), get_budget("paper")).compile_updates
    config.validate()


@pytest.mark.parametrize("budget", ["paper", "short", "smoke"])
def test_every_run_evaluates_at_its_training_length(budget):
    """Evaluations fall on iteration ends and the last one on the last env step, for every task: Table 2's
    final evaluation is at the training length, not an interval before it."""
    for task in TASKS.values():
        config = build_config(task, get_budget(budget))
        assert config.eval_interval_steps % config.report_interval_steps == 0, (task.name, budget)
        assert config.total_env_steps % config.eval_interval_steps == 0, (task.name, budget)


def test_a_budget_never_trains_longer_than_the_task():
    long_budget = dataclasses.replace(get_budget("short"), train_steps=10_000_000)
    assert build_config(get_task("poplin-swimmer"), long_budget).total_env_steps == 50_000


def test_train_plan_is_one_trial_with_table4_schedule():
    plan = plan_for("--seed", "7", mode="train")
    assert plan.trials == [{"target_entropy_init": 0, "target_entropy_final": -1, "target_entropy_beta": 0.5,
                            "seed": 7}]
    assert plan.exp_dir.name == "Hopper-train-smoke"


def test_official_schedules_preset_for_train_and_reproduce():
    """The official config file for MBPO Hopper is (0, -2, 1/32); Table 4's is (0, -1, 0.5)."""
    official = {"target_entropy_init": 0, "target_entropy_final": -2, "target_entropy_beta": 1 / 32}
    assert plan_for("--schedules", "official", mode="train").trials == [{**official, "seed": 1}]
    reproduce = plan_for("--schedules", "official", mode="reproduce")
    assert all({k: t[k] for k in SCHEDULE_KEYS} == official for t in reproduce.trials)
    assert plan_for("--schedules", "table4", mode="train").trials == plan_for(mode="train").trials


@pytest.mark.parametrize("args, message", [
    (["--task", "Hopper", "--mode", "train", "--schedules", "offical"], "Unknown schedules 'offical'"),
    (["--task", "Hopper", "--schedules", "official"],
     "--schedules applies to reproduce, train and ablation, not sweep"),
    (["--task", "Hopper", "--mode", "reproduce", "--schedules", "official", "--from-sweep", "x"],
     "--schedules and --from-sweep both choose the schedule"),
    (["--task", "Hopper", "--space", "official", "--set", "horizon=3"], "--set horizon: set per trial by the sweep"),
])
def test_schedule_and_space_mistakes_fail_before_ray(tmp_path, capsys, args, message):
    results = tmp_path / "results"
    assert cli.main([*args, "--budget", "smoke", "--results", str(results)]) == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


def test_official_space_sweep_varies_h_from_the_tasks_suite():
    poplin = plans.make_plan(cli.parse_args(["--task", "poplin-swimmer", "--budget", "smoke", "--space", "official"]))
    mbpo = plan_for("--space", "official", "--num-samples", "40")
    assert {t["horizon"] for t in mbpo.trials} <= {0, 1, 2, 3}
    assert {t["horizon"] for t in poplin.trials} <= {0, 1, 2, 3, 4, 5, 10}
    assert len({t["horizon"] for t in mbpo.trials}) > 1


# ---------------------------------------------------------------------------------------- smoke sweep


@pytest.mark.slow
def test_smoke_sweep_target_entropy_follows_eq14_for_each_trials_schedule(smoke_sweep):
    """progress.csv's target_entropy at each iteration's env step t is eq. 14 for the trial's own
    (H_init, H_final, beta) and T = total_env_steps, written here independently of the learner's code."""
    trials = trial_dirs(smoke_sweep)
    assert len(trials) == 2
    for trial in trials:
        params = json.loads((trial / "params.json").read_text())
        init, final, beta = (params[k] for k in SCHEDULE_KEYS)
        total = params["total_env_steps"]
        assert init != final and total == 1500  # a schedule that moves, over the smoke budget's length
        progress = pd.read_csv(trial / "progress.csv")
        t = progress["env_steps"].to_numpy(dtype=float)
        expected = (init - final) * (1 - t / total) ** beta + final
        assert len(progress) == 6 and t[-1] == total
        assert progress["target_entropy"].to_numpy() == pytest.approx(expected, abs=1e-6), trial.name
        assert progress["target_entropy"].iloc[-1] == pytest.approx(final)


@pytest.mark.slow
def test_smoke_sweep_writes_the_documented_layout(smoke_sweep):
    manifest = json.loads((smoke_sweep / "sweep.json").read_text())
    assert smoke_sweep.name == f"{SMOKE_TASK}-sweep-smoke"
    assert {k: manifest[k] for k in ("task", "suite", "mode", "budget", "train_steps", "num_samples",
                                     "sweep_seed")} == {
        "task": SMOKE_TASK, "suite": "mbpo", "mode": "sweep", "budget": "smoke", "train_steps": 1500,
        "num_samples": 2, "sweep_seed": 0}
    for key in ("eval_interval", "seeds", "search_space", "overrides", "created", "svglab_version"):
        assert key in manifest
    expected = ss.sample_configs(ss.load_space("paper"), 0, num_samples=2)
    dirs = trial_dirs(smoke_sweep)
    params = [json.loads((d / "params.json").read_text()) for d in dirs]
    assert [{k: p[k] for k in (*SCHEDULE_KEYS, "seed")} for p in params] == expected
    for trial_dir, p in zip(dirs, params):
        assert p["horizon"] == 2 and p["env"] == f"svglab/{SMOKE_TASK}"
        assert list(trial_dir.glob("checkpoint_*")), "no checkpoint"
        assert list(trial_dir.glob("events.out.tfevents.*")), "no TensorBoard events"


@pytest.mark.slow
def test_smoke_sweep_trains_and_evaluates(smoke_sweep):
    for trial_dir in trial_dirs(smoke_sweep):
        progress = pd.read_csv(trial_dir / "progress.csv")
        assert progress["env_steps"].iloc[-1] == 1500
        evals = progress["eval_return"].dropna()
        assert len(evals) == 2 and evals.notna().all()  # every 750 env steps
        assert progress["loss_critic"].notna().all()
        assert bool(progress["done"].iloc[-1])


@pytest.mark.slow
def test_smoke_sweep_keeps_wandb_offline_runs_in_the_trial_folders(smoke_sweep):
    for trial_dir in trial_dirs(smoke_sweep):
        runs = list((trial_dir / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, f"no W&B offline run in {trial_dir}"
        assert list(runs[0].glob("run-*.wandb")), "the offline run has no data file for `wandb sync`"


@pytest.mark.slow
def test_smoke_sweep_prints_progress_and_a_summary(smoke_sweep):
    stdout = (smoke_sweep.parent / "smoke-sweep.stdout").read_text()
    assert "trials 2 done, 0 running, 0 pending, 0 errored" in stdout
    assert "best eval return" in stdout and "ETA" in stdout
    assert "W&B: project 'svglab', group 'Hopper-sweep-smoke', offline" in stdout
    assert "Final evaluation return per configuration" in stdout


def _trial(status, steps, seconds, seed, **config):
    return types.SimpleNamespace(status=status, config={**config, "seed": seed},
                                 last_result={"env_steps": steps, "time_total_s": seconds} if steps else {})


def test_eta_counts_each_arm_at_its_own_rate_on_the_slots_running():
    """critic-mve at 25k env steps: three SAC trials done (180 s each), two MVE-critic trials running and one
    pending, two at a time; and a configuration not yet measured, at the mean of the measured ones."""
    sac, mve = {"critic_mve": "none"}, {"critic_mve": "full"}
    trials = [*(_trial("TERMINATED", 25_000, 180.0, s, **sac) for s in (1, 2, 3)),
              _trial("RUNNING", 10_000, 900.0, 1, **mve), _trial("RUNNING", 5_000, 500.0, 2, **mve),
              _trial("PENDING", 0, 0.0, 3, **mve)]
    mve_rate = (900 + 500) / 15_000  # seconds per env step, both MVE trials pooled
    first_free = 15_000 * mve_rate  # seed 1's time left; seed 2's is 20,000 * mve_rate
    assert progress.eta_seconds(trials, 25_000) == pytest.approx(first_free + 25_000 * mve_rate)
    unmeasured = _trial("PENDING", 0, 0.0, 1, critic_mve="none", horizon=2)
    assert progress.eta_seconds([*trials[:5], unmeasured], 25_000) == pytest.approx(
        first_free + 25_000 * (180 / 25_000 + mve_rate) / 2)
    assert progress.eta_seconds([_trial("PENDING", 0, 0.0, 1, **sac)], 25_000) == float("inf")


@pytest.mark.slow
def test_smoke_sweep_terminal_has_no_notices_and_points_tensorboard_at_the_results(smoke_sweep):
    """No deprecation warning or RLlib's new-API-stack notice; the TensorBoard hint names the sweep folder
    (Tune's own would name its staging folder under /tmp/ray)."""
    terminal = "\n".join((smoke_sweep.parent / f"smoke-sweep.{s}").read_text() for s in ("stdout", "stderr"))
    assert "new API stack" not in terminal and "deprecat" not in terminal.lower()
    assert "RAY_AUTH_MODE" not in terminal  # Ray's notice that says how to turn token authentication off
    hints = [line for line in terminal.splitlines() if "tensorboard --logdir" in line]
    assert hints == [f"TensorBoard: tensorboard --logdir {smoke_sweep}"]


@pytest.mark.slow
def test_smoke_sweep_terminal_has_no_wandb_actor_restart_error(smoke_sweep):
    """Ray's W&B logging actors are built without restarts, so Ray's core worker does not log that their
    constructor arguments (the trial's queue) could be lost on a restart (ray#53727)."""
    stderr = (smoke_sweep.parent / "smoke-sweep.stderr").read_text()
    assert "has constructor arguments in the object store" not in stderr


@pytest.mark.slow
def test_best_schedule_of_a_sweep_feeds_reproduce(smoke_sweep):
    table = sweep_results.trial_table(smoke_sweep)  # one seed per configuration in the smoke sweep
    best = table.loc[table["final_eval"].idxmax(), ["horizon", *SCHEDULE_KEYS]].to_dict()
    chosen = sweep_results.best_schedule(smoke_sweep)
    assert chosen == {k: int(v) for k, v in best.items()}
    plan = plan_for("--from-sweep", str(smoke_sweep), mode="reproduce")
    assert all({k: t[k] for k in SCHEDULE_KEYS} == {k: chosen[k] for k in SCHEDULE_KEYS} for t in plan.trials)
    assert {t["horizon"] for t in plan.trials} == {chosen["horizon"], 0}


@pytest.mark.slow
def test_a_different_command_on_an_existing_folder_fails(smoke_sweep, capsys):
    before = (smoke_sweep / "sweep.json").read_text()
    code = cli.main(["--task", SMOKE_TASK, "--budget", "smoke", "--results", str(smoke_sweep.parent),
                       "--set", "horizon=3", "--no-dashboard"])
    assert code == 2
    assert "differs in: overrides" in capsys.readouterr().err
    assert (smoke_sweep / "sweep.json").read_text() == before


# --------------------------------------------------------------------------------------------- resume


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    """Ctrl-C while the second of two sequential trials runs; the same command then finishes it from its
    checkpoint and leaves the first trial alone."""
    args = ["--task", SMOKE_TASK, "--budget", "smoke", "--results", str(tmp_path), "--no-dashboard",
            "--max-concurrent", "1", "--set", "total_env_steps=750", "--set", "eval_interval_steps=500"]
    exp_dir = tmp_path / f"{SMOKE_TASK}-sweep-smoke"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    first = subprocess.Popen([sys.executable, "-m", "sweeps.sweep", *args], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 400
        while time.time() < deadline and first.poll() is None:
            dirs = trial_dirs(exp_dir) if exp_dir.exists() else []
            if len(dirs) == 2 and list(dirs[1].glob("checkpoint_*")):
                break
            time.sleep(0.5)
        assert first.poll() is None, "the sweep ended before the second trial checkpointed"
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0, output[-3000:]
    finished, interrupted = trial_dirs(exp_dir)
    finished_results = (finished / "result.json").read_text()
    assert results_of(finished)[-1]["env_steps"] == 750
    assert results_of(interrupted)[-1]["env_steps"] < 750

    second = run_cli(*args, timeout=400)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming" in second.stdout
    assert_no_trial_failed(exp_dir)
    assert trial_dirs(exp_dir) == [finished, interrupted]
    assert (finished / "result.json").read_text() == finished_results  # not rerun
    steps = [r["env_steps"] for r in results_of(interrupted)]
    assert steps[-1] == 750
    assert steps.count(steps[0]) == 1, f"the interrupted trial restarted from scratch: {steps}"


def test_resume_with_a_corrupt_checkpoint_names_the_file_before_ray_starts(tmp_path, capsys):
    argv = ["--task", "Hopper", "--budget", "smoke", "--results", str(tmp_path), "--no-dashboard"]
    plan = plans.make_plan(cli.parse_args(argv))
    trial = plan.exp_dir.local / "trial_unfinished"
    state = trial / "checkpoint_000001" / "learner_group" / "learner" / "state.pkl"
    write_checkpoint(trial / "checkpoint_000001", {"learner_group/learner/state.pkl": b"truncated"})
    (trial / "params.json").write_text(json.dumps({"horizon": 2, "seed": 1}))
    (trial / "progress.csv").write_text("env_steps,eval_return\n250,\n")
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert "cannot resume trial trial_unfinished" in error and str(state) in error
    assert state.read_bytes() == b"truncated"  # nothing touched


def test_official_defaults_preset_reaches_the_trials_under_explicit_overrides(tmp_path):
    argv = ["--task", "Hopper", "--budget", "smoke", "--results", str(tmp_path), "--official-defaults",
            "--set", "batch_size=32"]
    plan = plans.make_plan(cli.parse_args(argv))
    assert plan.param_space["hidden_depth"] == 4 and plan.param_space["decoder_depth"] == 0
    assert plan.param_space["batch_size"] == 32  # an explicit --set wins over the preset
    assert plan.manifest["overrides"]["actor_loss_per_term"] is True
