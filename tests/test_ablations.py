"""`make ablation` (sweeps.ablation, dashboards.ablations): the command's bad inputs fail before Ray and write
nothing; the critic-mve plan is fig. 4's four arms with the same seeds; fig. 3's episode order and split; the table
and plots from synthetic trial folders; and (slow) both ablations end to end on the smoke budget."""

from __future__ import annotations

import json
import math
import os
import pickle
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboards import ablations as ablation_outputs
from dashboards import intervals, load
from dashboards.ablation_table import arm_rows
from sweeps import ablation, cli
from sweeps import plan as plans
from sweeps.ablation_catalog import CRITIC_MVE, MODEL, get_ablation
from sweeps.model_ablation import CURVES
from sweeps.replay_episodes import episodes_in_order, split_episodes, windows
from tests.conftest import assert_no_trial_failed, run_cli

TASK = "Walker2d"


def ablation_plan(*argv):
    return plans.make_plan(cli.parse_args(["--task", TASK, "--budget", "smoke", *argv], "ablation"))


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("argv, message", [
    (["--ablation", "critic-mvee"], "Unknown ablation 'critic-mvee'. Did you mean 'critic-mve'? Ablations: critic-mve"),
    (["--ablation", "nonsense"], "Ablations: critic-mve (fig. 4 and 6"),
    ([], "no ablation named: give NAME= one of: critic-mve"),
    (["--ablation", "critic-mve", "--budget", "huge"], "Unknown budget 'huge'"),
    (["--ablation", "critic-mve", "--from-trial", "/tmp"], "ablation critic-mve trains its own trials: drop FROM="),
    (["--ablation", "model", "--num-seeds", "2"], "drop SEEDS="),
    (["--ablation", "critic-mve", "--set", "critic_mve=full"], "--set critic_mve: set per trial by the ablation"),
    (["--ablation", "critic-mve", "--set", "horizon=3"], "--set horizon: set per trial by the ablation"),
    (["--ablation", "critic-mve", "--arms", "sac,sac-mvee"], "ARMS= (--arms) of ablation critic-mve: unknown arm "
                                                             "'sac-mvee'; give some of: sac (SAC actor, model-free"),
    (["--ablation", "critic-mve", "--arms", " , "], "no arm named"),
    (["--ablation", "model", "--arms", "sac"], "the model ablation has one arm, its SAC run: drop ARMS="),
    (["--ablation", "model", "--from-trial", "/nonexistent/trial"], "FROM=/nonexistent/trial: /nonexistent/trial is "
                                                                    "not a folder"),
])
def test_bad_ablation_inputs_fail_with_what_to_change_and_write_nothing(tmp_path, capsys, argv, message):
    results = tmp_path / "results"
    argv = ["--task", TASK, "--budget", "smoke", "--results", str(results), *argv]
    assert ablation.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


def test_ablation_flags_are_refused_by_the_other_modes(tmp_path, capsys):
    assert cli.main(["--task", TASK, "--budget", "smoke", "--results", str(tmp_path / "r"),
                     "--ablation", "model"]) == 2
    assert "--ablation applies to ablation, not sweep" in capsys.readouterr().err


def fake_trial(folder, params, progress=None, checkpoint=True):
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(params))
    if progress is not None:
        pd.DataFrame(progress).to_csv(folder / "progress.csv", index=False)
    if checkpoint:
        (folder / "checkpoint_000001").mkdir()
    return folder


def _experiment_folder(folder):
    folder.mkdir()
    (folder / "sweep.json").write_text("{}")
    return folder


@pytest.mark.parametrize("make, message", [
    (lambda d: d.mkdir() or d, "is not a trial folder: it has no params.json"),
    (_experiment_folder, "(an experiment folder: give one of its trial"),
    (lambda d: fake_trial(d, {"env": "svglab/Hopper"}), "trained svglab/Hopper, not Walker2d: give TASK= its task"),
    (lambda d: fake_trial(d, {"env": "svglab/Walker2d", "checkpoint_replay": False}),
     "ran with checkpoint_replay=False"),
    (lambda d: fake_trial(d, {"env": "svglab/Walker2d"}, checkpoint=False), "has no checkpoint_* folder"),
    (lambda d: fake_trial(d, {"env": "svglab/Walker2d"}), "has no svglab_checkpoint.json"),
])
def test_from_that_is_not_a_usable_trial_fails_before_ray_and_writes_nothing(tmp_path, capsys, make, message):
    source = make(tmp_path / "source")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    results = tmp_path / "results"
    code = ablation.main(["--ablation", "model", "--task", TASK, "--budget", "smoke", "--results", str(results),
                          "--from-trial", str(source)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not results.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# ---------------------------------------------------------------------------------------------- plans


def test_critic_mve_plan_is_four_arms_with_the_same_seeds_and_table4_schedule(tmp_path):
    plan = ablation_plan("--ablation", "critic-mve", "--results", str(tmp_path), "--num-seeds", "3", "--seed", "4")
    assert plan.exp_dir.local == tmp_path.resolve() / "Walker2d-ablation-critic-mve-smoke"
    arms = {(t["horizon"], t["critic_mve"]) for t in plan.trials}
    assert arms == {(0, "none"), (0, "full"), (2, "none"), (2, "full")}
    for arm in arms:
        assert sorted(t["seed"] for t in plan.trials if (t["horizon"], t["critic_mve"]) == arm) == [4, 5, 6]
    assert all((t["target_entropy_init"], t["target_entropy_final"], t["target_entropy_beta"]) == (-2, -3, 64)
               for t in plan.trials)  # Walker2d's Table 4 row
    assert all(t["critic_horizon"] == 2 for t in plan.trials)
    assert plan.manifest["ablation"] == "critic-mve" and plan.manifest["mode"] == "ablation"
    assert plan.steps_per_trial == 750 and not tmp_path.joinpath("Walker2d-ablation-critic-mve-smoke").exists()


def test_arms_runs_only_the_named_arms_with_the_same_seeds_and_says_so_in_the_manifest(tmp_path):
    plan = ablation_plan("--ablation", "critic-mve", "--results", str(tmp_path), "--arms", "sac-mve sac")
    assert [(t["horizon"], t["critic_mve"], t["seed"]) for t in plan.trials] == [
        (0, "none", 1), (0, "none", 2), (0, "full", 1), (0, "full", 2)]  # the catalog's order, not the typed one
    assert plan.manifest["arms"] == ["sac", "sac-mve"]
    assert ablation_plan("--ablation", "critic-mve", "--results", str(tmp_path)).manifest["arms"] == [
        "sac", "sac-mve", "svg", "svg-mve"]


def test_model_plan_is_one_sac_trial_with_the_fit_protocol_in_the_manifest(tmp_path):
    plan = ablation_plan("--ablation", "model", "--results", str(tmp_path))
    assert [t["horizon"] for t in plan.trials] == [0]
    assert plan.manifest["model_fit"]["num_chunks"] == MODEL.budgets["smoke"].fit.num_chunks
    assert plan.exp_dir.name == "Walker2d-ablation-model-smoke"
    assert plan.param_space["replay_capacity"] == 1_500 + 250  # every episode kept: the length and an iteration


def test_every_ablation_has_the_three_budgets():
    for name in ("critic-mve", "model"):
        assert set(get_ablation(name).budgets) == {"paper", "short", "smoke"}
    assert CRITIC_MVE.budgets["paper"].budget.train_steps is None  # the task's length: Walker2d 2M


# ------------------------------------------------------------------------------------ fig. 3's data


def ring_buffer(episode_of_slot, t_of_slot, next_index, capacity):
    n = len(episode_of_slot)
    obs = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    data = {"obs": obs, "next_obs": obs + 0.5, "action": obs[:, :1], "reward": obs[:, 0],
            "terminated": np.zeros(n, np.float32), "episode": np.asarray(episode_of_slot),
            "t": np.asarray(t_of_slot)}
    return {"capacity": capacity, "size": n, "next_index": next_index, "data": data}


def test_episodes_come_back_in_collection_order_from_a_wrapped_ring_buffer():
    # Slots 0-2 were written last (episode 9, t = 0..2); slots 3-5 are the oldest (episode 7, t = 4..6), then
    # slots 6-7 hold episode 8 (t = 0..1).
    buffer = ring_buffer([9, 9, 9, 7, 7, 7, 8, 8], [0, 1, 2, 4, 5, 6, 0, 1], next_index=3, capacity=8)
    episodes = episodes_in_order(buffer)
    assert [int(e["episode"][0]) for e in episodes] == [7, 8, 9]
    assert [e["t"].tolist() for e in episodes] == [[4, 5, 6], [0, 1], [0, 1, 2]]
    assert episodes[2]["obs"][:, 0].tolist() == [0, 1, 2]


def test_split_holds_out_a_fixed_test_set_and_adds_the_rest_in_order():
    split = split_episodes(20, test_fraction=0.2, holdout_every=3, num_chunks=2, seed=0)
    expected_test = sorted(np.random.default_rng(0).choice(20, size=4, replace=False).tolist())
    assert split.test == expected_test
    rest = [i for i in range(20) if i not in expected_test]
    (train1, hold1), (train2, hold2) = split.chunks
    assert sorted(train1 + hold1) == rest[:8] and sorted(train2 + hold2) == rest[8:]
    assert hold1 + hold2 == rest[2::3]  # every third of the run's non-test episodes, counted across chunks
    assert split_episodes(20, 0.2, 3, 2, seed=0) == split  # chosen once: the same split again


def test_split_refuses_too_few_episodes():
    with pytest.raises(ValueError, match="5 episodes: the split needs at least 7 .1 test, then 3 chunks"):
        split_episodes(5, test_fraction=0.2, holdout_every=2, num_chunks=3)


def test_windows_are_consecutive_states_inside_one_episode():
    episode = {"obs": np.array([[0.], [1.], [2.]]), "next_obs": np.array([[1.], [2.], [3.]]),
               "action": np.array([[10.], [11.], [12.]])}
    short = {"obs": np.array([[5.]]), "next_obs": np.array([[6.]]), "action": np.array([[15.]])}
    states, actions = windows([episode, short], length=3, max_count=10)
    assert states[:, :, 0].T.tolist() == [[0, 1, 2], [1, 2, 3]]  # x_1..x_3 of both windows; `short` has none
    assert actions[:, :, 0].T.tolist() == [[10, 11], [11, 12]]


# ---------------------------------------------------------------------------------- table and plots


def test_arm_rows_match_a_hand_computed_welch_test():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([10.0, 12.0])
    rows = arm_rows({"A": a, "B": b, "C": np.array([3.0])}).set_index("arm")
    assert rows.loc["A", "n"] == 3 and rows.loc["A", "mean"] == pytest.approx(7 / 3)
    mean = 7 / 3
    assert rows.loc["A", "std"] == pytest.approx(math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 2))
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 2
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)
    assert rows.loc["A", "p vs B"] == pytest.approx(2 * stats.t.sf(abs(t), dof))
    assert rows.loc["B", "p vs A"] == pytest.approx(rows.loc["A", "p vs B"])
    assert math.isnan(rows.loc["A", "p vs C"]) and math.isnan(rows.loc["C", "std"])
    assert math.isnan(rows.loc["A", "p vs A"])
    # The IQM and mean beside them: rliable's interval for A (3 trials), the point and the reason for B and C.
    interval = intervals.summarize_arms({"A": a})["A"]
    assert (rows.loc["A", "iqm"], rows.loc["A", "iqm_low"], rows.loc["A", "iqm_high"]) == pytest.approx(
        (interval.iqm.point, interval.iqm.low, interval.iqm.high))
    assert rows.loc["A", "score_mean"] == pytest.approx(7 / 3)
    assert rows.loc["A", "iqm_low"] <= 2 <= rows.loc["A", "iqm_high"]
    assert rows.loc["B", "iqm_note"] == "no interval: n=2 < 3 trials" and math.isnan(rows.loc["B", "iqm_low"])


def synthetic_critic_mve_experiment(results):
    exp = results / "Walker2d-ablation-critic-mve-smoke"
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text(json.dumps({"task": TASK, "mode": "ablation", "budget": "smoke",
                                                "train_steps": 1000, "ablation": "critic-mve"}))
    finals = {}
    for i, arm in enumerate(CRITIC_MVE.arms):
        for seed in (1, 2):
            final = 100.0 * i + seed
            finals.setdefault(arm.name, []).append(final)
            fake_trial(exp / f"t{i}{seed}", {**arm.fields, "seed": seed, "env": "svglab/Walker2d"},
                       {"training_iteration": [1, 2], "env_steps": [500, 1000], "eval_return": [0.0, final],
                        "model_error": [0.1, 0.2 * seed]}, checkpoint=False)
    return exp, finals


def test_critic_mve_outputs_from_trial_folders(tmp_path):
    exp, finals = synthetic_critic_mve_experiment(tmp_path / "results")
    written = ablation_outputs.write_outputs(str(tmp_path / "results"), CRITIC_MVE, TASK, "smoke")
    out = tmp_path / "results" / "tables" / exp.name
    assert {p.name for p in written} == {"critic_mve_returns.png", "critic_mve_trials.png", "critic_mve_final.md",
                                         "critic_mve_final.csv"}
    table = pd.read_csv(out / "critic_mve_final.csv").set_index("arm")
    for arm, values in finals.items():
        assert table.loc[arm, "n"] == 2 and table.loc[arm, "mean"] == pytest.approx(np.mean(values))
    assert "p vs SVG(2) actor, MVE critic" in table.columns
    assert (out / "critic_mve_returns.png").stat().st_size > 10_000
    assert "SAC actor, MVE critic" in (out / "critic_mve_final.md").read_text()


def test_critic_mve_outputs_show_only_the_arms_the_experiment_ran(tmp_path):
    exp, finals = synthetic_critic_mve_experiment(tmp_path / "results")
    manifest = json.loads((exp / "sweep.json").read_text()) | {"arms": ["sac", "svg"]}
    (exp / "sweep.json").write_text(json.dumps(manifest))
    written = ablation_outputs.write_outputs(str(tmp_path / "results"), CRITIC_MVE, TASK, "smoke")
    assert {p.name for p in written} == {"critic_mve_returns.png", "critic_mve_final.md", "critic_mve_final.csv"}
    table = pd.read_csv(tmp_path / "results" / "tables" / exp.name / "critic_mve_final.csv")
    assert list(table["arm"]) == ["SAC actor, model-free critic", "SVG(2) actor, model-free critic"]
    assert list(table["mean"]) == [np.mean(finals[arm]) for arm in table["arm"]]


@pytest.mark.parametrize("arms, message", [(["sac", "nope"], "unknown arm 'nope'"),
                                            (5, "5 is not a list of arm keys"),
                                            ([["sac"]], "[['sac']] is not a list of arm keys")])
def test_an_edited_manifest_arms_is_one_error_line(tmp_path, capsys, arms, message):
    exp, _ = synthetic_critic_mve_experiment(tmp_path / "results")
    (exp / "sweep.json").write_text(json.dumps({"train_steps": 1000, "arms": arms}))
    assert ablation_outputs.main(["--ablation", "critic-mve", "--task", TASK, "--budget", "smoke",
                                  "--results", str(tmp_path / "results")]) == 2
    assert f"{exp / 'sweep.json'}: " in (err := capsys.readouterr().err) and message in err
    (exp / "sweep.json").write_text("[]")
    assert ablation_outputs.main(["--ablation", "critic-mve", "--task", TASK, "--budget", "smoke",
                                  "--results", str(tmp_path / "results")]) == 2
    assert "is not an experiment manifest (not a JSON object)" in capsys.readouterr().err


def test_model_errors_plot_from_the_csv(tmp_path):
    exp = tmp_path / "results" / "Walker2d-ablation-model-smoke"
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text(json.dumps({"task": TASK, "mode": "ablation", "train_steps": 1500}))
    scale = {"gru": 2, "mlp_ensemble": 1, "mlp_ensemble_member_average": 1.5}
    rows = [{"curve": c, "episodes_seen": e, "split": s, "unroll_step": k, "error": 0.1 * k * scale[c] + e / 100}
            for c in scale for e in (4, 8) for s in ("train", "holdout", "test") for k in (1, 2, 3)]
    pd.DataFrame(rows).to_csv(exp / "model_errors.csv", index=False)
    plot, md, csv = ablation_outputs.write_outputs(str(tmp_path / "results"), MODEL, TASK, "smoke")
    assert plot.name == "model_errors.png" and plot.stat().st_size > 10_000
    final = pd.read_csv(csv).set_index("curve")  # after the last chunk (8 episodes), mean over the 3 unroll steps
    assert list(final.index) == ["mlp_ensemble", "mlp_ensemble_member_average", "gru"]
    assert list(final.columns) == ["train", "holdout", "test"]
    np.testing.assert_allclose(final["test"], [0.2 * scale[c] + 0.08 for c in final.index])
    assert "MLP ensemble: members' average, each alone" in md.read_text()
    (exp / "model_errors.csv").write_text("model,episodes_seen,split,unroll_step,error\ngru,4,test,1,0.1\n")
    with pytest.raises(ValueError, match="no curve column"):
        ablation_outputs.write_outputs(str(tmp_path / "results"), MODEL, TASK, "smoke")


def test_missing_ablation_folder_says_run_it_first(tmp_path, capsys):
    assert ablation_outputs.main(["--ablation", "model", "--task", TASK, "--budget", "smoke",
                                  "--results", str(tmp_path)]) == 2
    assert "run make ablation first" in capsys.readouterr().err


def test_tables_2_and_4_leave_ablation_folders_out(tmp_path):
    exp, _ = synthetic_critic_mve_experiment(tmp_path / "results")
    assert load.find_experiments(tmp_path / "results") and not load.latest_experiments(
        load.find_experiments(tmp_path / "results"))


def test_replay_state_is_read_as_plain_data_only(tmp_path):
    from algorithms.sac_svg import checkpoint
    from sweeps.replay_episodes import LEARNER_STATE, read_replay

    trial = tmp_path / "trial"

    def write_state(state: dict) -> None:  # a complete checkpoint: its manifest lists the state's size and hash
        def save(folder):
            (folder / LEARNER_STATE).parent.mkdir(parents=True)
            (folder / LEARNER_STATE).write_bytes(pickle.dumps(state))
        checkpoint.write_atomically(trial / "checkpoint_000002", save, types.SimpleNamespace(), 2)

    buffer = ring_buffer([1, 1], [0, 1], next_index=2, capacity=4)
    write_state({"replay": {"env_steps": 2, "buffer": buffer}})
    assert read_replay(trial)["size"] == 2 and read_replay(trial)["collected"] == 2
    write_state({"replay": {"buffer": buffer}, "evil": os.system})
    with pytest.raises(Exception, match=f"refusing to load {os.system.__module__}.system"):
        read_replay(trial)


# ------------------------------------------------------------------------------- fig. 3's fit, resumed


def synthetic_episodes(count=24, length=10, obs_dim=17, act_dim=6):
    rng = np.random.default_rng(3)
    episodes = []
    for e in range(count):
        states = np.cumsum(rng.normal(size=(length + 1, obs_dim)), axis=0).astype(np.float32)
        episodes.append({"obs": states[:-1], "next_obs": states[1:],
                         "action": rng.uniform(-1, 1, size=(length, act_dim)).astype(np.float32),
                         "reward": np.zeros(length, np.float32), "terminated": np.zeros(length, np.float32),
                         "episode": np.full(length, e, np.int64), "t": np.arange(length)})
    return episodes


class Interrupt(Exception):
    pass


def test_model_fit_resumes_after_the_last_saved_chunk_exactly(tmp_path, monkeypatch):
    from sweeps import model_ablation
    from sweeps.ablation_catalog import ModelFit
    from sweeps.budgets import get_budget
    from sweeps.experiment import build_config
    from tasks import get_task, make_env

    base = build_config(get_task(TASK), get_budget("smoke")).to_dict()
    fit = ModelFit(test_fraction=0.2, holdout_every=3, num_chunks=3, updates_per_chunk=5, unroll_steps=2,
                   max_score_sequences=64)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    whole.mkdir(), resumed.mkdir()
    model_ablation.ModelFitRun(whole, base, fit, synthetic_episodes(), make_env(TASK)).run(log=lambda line: None)

    def stop_after_first_chunk(line):
        raise Interrupt(line)

    with pytest.raises(Interrupt, match=r"chunk 1/3 \| episodes 7/19"):
        model_ablation.ModelFitRun(resumed, base, fit, synthetic_episodes(), make_env(TASK)).run(
            log=stop_after_first_chunk)
    first = pd.read_csv(resumed / "model_errors.csv")
    assert first["episodes_seen"].unique().tolist() == [7]
    model_ablation.ModelFitRun(resumed, base, fit, synthetic_episodes(), make_env(TASK)).run(log=lambda line: None)

    expected, got = pd.read_csv(whole / "model_errors.csv"), pd.read_csv(resumed / "model_errors.csv")
    assert list(got.columns) == ["curve", "episodes_seen", "split", "unroll_step", "error"]
    assert got["episodes_seen"].unique().tolist() == [7, 13, 19]
    assert set(got["curve"]) == set(model_ablation.CURVES) and set(got["split"]) == {"train", "holdout", "test"}
    pd.testing.assert_frame_equal(got, expected, rtol=1e-6)


def test_the_ensemble_is_scored_by_its_prediction_below_its_members_average(tmp_path):
    """Fig. 3's ensemble score is the error of the mean of its members' trajectories, by hand; the members' own
    errors, averaged, are the second curve, and above it for members that disagree (Jensen)."""
    import torch

    from sweeps import model_ablation
    from sweeps.ablation_catalog import ModelFit
    from sweeps.budgets import get_budget
    from sweeps.experiment import build_config
    from tasks import get_task, make_env

    base = build_config(get_task(TASK), get_budget("smoke")).to_dict()
    fit = ModelFit(test_fraction=0.2, holdout_every=3, num_chunks=1, updates_per_chunk=5, unroll_steps=3,
                   max_score_sequences=32)
    run = model_ablation.ModelFitRun(tmp_path, base, fit, synthetic_episodes(), make_env(TASK))
    run.add_chunk(0)
    run.train()
    learner = run.learners["mlp_ensemble"]
    ensemble, normalize = learner.rl_module.world_model.dynamics, learner.rl_module.normalizer
    states, actions = normalize(run.test.states), run.test.actions
    trajectories = []
    for e in range(ensemble.ensemble_size):  # each member alone, step by step
        x, steps = states[0], []
        for u in actions:
            x = x + ensemble.members.member(e, torch.cat([x, u], -1))
            steps.append(x)
        trajectories.append(torch.stack(steps))
    trajectories = torch.stack(trajectories).detach()
    assert (trajectories[0] - trajectories[1]).abs().max() > 1e-3  # the members differ
    by_hand = (trajectories.mean(dim=0) - states[1:]).pow(2).mean(dim=(1, 2))
    members_by_hand = (trajectories - states[1:]).pow(2).mean(dim=(0, 2, 3))
    torch.testing.assert_close(learner.model_errors(run.test), by_hand)

    rows = pd.DataFrame(run.score(0))
    test = rows[rows["split"] == "test"].pivot(index="unroll_step", columns="curve", values="error")
    np.testing.assert_allclose(test["mlp_ensemble"], by_hand.numpy(), rtol=1e-5)
    np.testing.assert_allclose(test[model_ablation.MEMBER_AVERAGE], members_by_hand.numpy(), rtol=1e-5)
    assert (test["mlp_ensemble"] < test[model_ablation.MEMBER_AVERAGE]).all()
    torch.testing.assert_close(torch.as_tensor(test["gru"].to_numpy(), dtype=torch.float32),
                               run.learners["gru"].model_errors(run.test))
    assert set(rows["curve"]) == set(model_ablation.CURVES) and set(rows["split"]) == {"train", "holdout", "test"}


# ------------------------------------------------------------------------------ end to end, smoke budget


def ablation_cli(*args, results):
    return run_cli("--task", TASK, "--budget", "smoke", "--results", str(results), "--no-dashboard", *args,
                   module="sweeps.ablation", timeout=900)


@pytest.mark.slow
def test_critic_mve_smoke_runs_four_arms_and_writes_fig4_fig6_and_the_table(tmp_path):
    process = ablation_cli("--ablation", "critic-mve", "--num-seeds", "1", results=tmp_path)  # 4 trials, not 8: time
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    exp = tmp_path / "Walker2d-ablation-critic-mve-smoke"
    assert_no_trial_failed(exp)
    assert "[Walker2d-ablation-critic-mve-smoke" in process.stdout  # the progress line
    assert json.loads((exp / "sweep.json").read_text())["ablation"] == "critic-mve"
    curves = ablation_outputs.arm_curves(exp, CRITIC_MVE)
    assert curves.groupby("arm")["seed"].unique().map(list).to_dict() == {arm.name: [1] for arm in CRITIC_MVE.arms}
    last = curves.groupby("trial").tail(1).set_index("arm")
    assert (last["env_steps"] == 750).all() and last["eval_return"].notna().all()
    # The world model is learned (model error reported) exactly where the actor or the critic uses it.
    learned = curves.groupby("arm")["model_error"].apply(lambda e: e.notna().any()).to_dict()
    assert learned == {"SAC actor, model-free critic": False, "SAC actor, MVE critic": True,
                       "SVG(2) actor, model-free critic": True, "SVG(2) actor, MVE critic": True}
    assert list(exp.glob("*_H=0_critic=full_*/wandb/offline-run-*"))  # W&B offline, the arm in the folder name

    assert ablation_outputs.main(["--ablation", "critic-mve", "--task", TASK, "--budget", "smoke",
                                  "--results", str(tmp_path)]) == 0
    out = tmp_path / "tables" / exp.name
    table = pd.read_csv(out / "critic_mve_final.csv").set_index("arm")
    assert table["n"].to_dict() == {arm.name: 1 for arm in CRITIC_MVE.arms}
    for arm in CRITIC_MVE.arms:
        assert table.loc[arm.name, "mean"] == pytest.approx(last.loc[arm.name, "eval_return"])
    assert (out / "critic_mve_returns.png").is_file() and (out / "critic_mve_trials.png").is_file()


@pytest.mark.slow
def test_model_smoke_fits_both_models_and_refits_the_same_from_the_trial(tmp_path):
    process = ablation_cli("--ablation", "model", results=tmp_path / "a")
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    exp = tmp_path / "a" / "Walker2d-ablation-model-smoke"
    errors = pd.read_csv(exp / "model_errors.csv")
    fit = MODEL.budgets["smoke"].fit
    assert set(errors["curve"]) == set(CURVES) and set(errors["split"]) == {"train", "holdout", "test"}
    assert sorted(errors["unroll_step"].unique()) == list(range(1, fit.unroll_steps + 1))
    assert errors["episodes_seen"].nunique() == fit.num_chunks
    assert np.isfinite(errors["error"]).all() and (errors["error"] > 0).all()
    assert "chunk 3/3" in process.stdout


    [trial] = [p.parent for p in exp.glob("*/params.json")]
    source = ablation_cli("--ablation", "model", "--from-trial", str(trial), results=tmp_path / "b")
    assert source.returncode == 0, source.stdout[-4000:] + source.stderr[-4000:]
    assert "Started a local Ray" not in source.stdout + source.stderr  # nothing to train
    refit = tmp_path / "b" / "Walker2d-ablation-model-smoke"
    assert json.loads((refit / "sweep.json").read_text())["from_trial"] == str(trial)
    pd.testing.assert_frame_equal(pd.read_csv(refit / "model_errors.csv"), errors)  # the same episodes, the same fit

    assert ablation_outputs.main(["--ablation", "model", "--task", TASK, "--budget", "smoke",
                                  "--results", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "tables" / exp.name / "model_errors.png").is_file()


@pytest.mark.parametrize("task", ["Walker2d", "Humanoid"])
def test_every_ablation_budget_evaluates_at_its_training_length(task):
    from sweeps.experiment import build_config
    from tasks import get_task

    for ablation_ in (CRITIC_MVE, MODEL):
        for chosen in ablation_.budgets.values():
            config = build_config(get_task(task), chosen.budget)
            assert config.total_env_steps % config.eval_interval_steps == 0, (ablation_.name, chosen.budget.name)
            assert config.eval_interval_steps % config.report_interval_steps == 0, (ablation_.name, chosen.budget.name)
