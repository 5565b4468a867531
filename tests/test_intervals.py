"""Interval estimates (dashboards.intervals, through rliable), the trial score rule, normalized scores and the
plots built on them, checked against rliable called directly, hand computations and files read back."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rliable import library as rly
from rliable import metrics

from dashboards import intervals, load, normalization, plots, tables
from dashboards.intervals import SEED, Estimate, ScoreRule
from sweeps.results import trial_score
from tests.test_dashboards import EVAL_INTERVAL, TRAIN_STEPS, row, write_experiment

REPS = 300  # bootstrap resamples in these tests (the tables' default is intervals.BOOTSTRAP_REPS)

# Two POPLIN tasks, reproduce folders: (H, H_init, H_final, beta, seed) -> final evaluation return. Hopper's
# SAC-SVG(H) has a fourth trial, so the aggregate over tasks keeps the first three of each task.
CHEETAH = {(2, 0, -3, 0.1, s): v for s, v in zip((1, 2, 3), (3000.0, 5000.0, 4000.0))} | {
    (0, 0, -3, 0.1, s): v for s, v in zip((1, 2, 3), (1000.0, 2500.0, 2000.0))}
HOPPER = {(2, 0, 0, None, s): v for s, v in zip((1, 2, 3, 4), (900.0, 1200.0, 300.0, 1500.0))} | {
    (0, 0, 0, None, s): v for s, v in zip((1, 2, 3), (200.0, 1000.0, 400.0))}
# A sweep of Cheetah: the best schedule (0, -3, 0.1) by mean final evaluation has three seeds.
SWEEP = {(2, 0, -3, 0.1, s): v for s, v in zip((1, 2, 3), (700.0, 900.0, 2000.0))} | {
    (2, 1, -2, None, s): v for s, v in zip((1, 2, 3), (100.0, 200.0, 300.0))}


@pytest.fixture(scope="module")
def two_tasks(tmp_path_factory) -> tables.Generated:
    root = tmp_path_factory.mktemp("two_tasks")
    write_experiment(root, "poplin-cheetah", "poplin", "reproduce", CHEETAH)
    write_experiment(root, "poplin-hopper", "poplin", "reproduce", HOPPER)
    write_experiment(root, "poplin-cheetah", "poplin", "sweep", SWEEP)
    return tables.generate(root, out=tmp_path_factory.mktemp("out"), use_wandb=False, reps=REPS)


def independent_scores(exp: Path, horizon: float, last_k: int = 3) -> np.ndarray:
    """The mean of each trial's last ``last_k`` evaluations, read with plain pandas, in trial folder order."""
    scores = []
    for params in sorted(exp.glob("*/params.json")):
        if json.loads(params.read_text())["horizon"] == horizon:
            evals = pd.read_csv(params.parent / "progress.csv")["eval_return"].dropna()
            scores.append(evals.iloc[-last_k:].mean())
    return np.array(scores)


def rliable_iqm_and_mean(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rliable called directly, as its README does, on the sorted scores: (points, 2 x 2 intervals) of [IQM, mean]."""
    np.random.seed(SEED)
    points, cis = rly.get_interval_estimates(
        {"x": np.sort(scores).reshape(-1, 1)},
        lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]), reps=REPS)
    return points["x"], cis["x"]


# ---------------------------------------------------------------- the score of a trial


def test_trial_score_is_the_mean_of_the_last_k_evaluations():
    progress = pd.DataFrame({"env_steps": [1, 2, 3, 4, 5], "eval_return": [math.nan, 10.0, math.nan, 20.0, 30.0]})
    assert trial_score(progress, 1) == 30.0
    assert trial_score(progress, 2) == 25.0
    assert trial_score(progress, 5) == 20.0  # fewer evaluations than k: all of them
    assert math.isnan(trial_score(progress.assign(eval_return=math.nan), 3))


def test_score_rule_defaults_and_parsing():
    auto = ScoreRule.parse("auto")
    assert auto.k("paper") == 1 and auto.k("short") == auto.k("smoke") == intervals.REDUCED_LAST_K == 3
    assert auto.describe("short") == "score = mean of the last 3 evaluations"
    last = ScoreRule.parse("last")
    assert last.k("short") == 1 and last.describe("short") == "score = the last evaluation"
    assert ScoreRule.parse("mean-last-5").k("paper") == 5 and str(ScoreRule.parse("mean-last-5")) == "mean-last-5"
    for bad in ("median", "mean-last-0", "mean-last-", "last-3"):
        with pytest.raises(ValueError, match="mean-last-K"):
            ScoreRule.parse(bad)


def test_tables_cli_rejects_a_bad_score_rule_and_writes_nothing(tmp_path, capsys):
    write_experiment(tmp_path / "results", "poplin-cheetah", "poplin", "reproduce", CHEETAH)
    with pytest.raises(SystemExit) as exit_:
        tables.main(["--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--score", "median",
                     "--no-wandb"])
    assert exit_.value.code == 2
    assert "--score: score rule 'median'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_score_rule_last_scores_the_last_evaluation(tmp_path):
    write_experiment(tmp_path, "poplin-cheetah", "poplin", "reproduce", CHEETAH)
    results = load.read_results(load.select_experiments(tmp_path), ScoreRule(1))
    svg = results.trials[results.trials["horizon"] == 2.0]
    assert sorted(svg["score"]) == sorted(svg["final_eval"]) == [3000.0, 4000.0, 5000.0]
    assert set(results.experiments["score_rule"]) == {"score = the last evaluation"}


# ---------------------------------------------------------------- the tables' intervals


def test_table2_iqm_and_intervals_equal_rliables(two_tasks):
    t2 = two_tasks.tables.table2
    for task in ("poplin-cheetah", "poplin-hopper"):
        exp = two_tasks.results.experiments.set_index("experiment").loc[f"{task}-reproduce-smoke", "path"]
        for horizon in (0.0, 2.0):
            scores = independent_scores(Path(exp), horizon)
            points, cis = rliable_iqm_and_mean(scores)
            r = row(t2, task=task, horizon=horizon)
            assert (r["iqm"], r["iqm_low"], r["iqm_high"]) == pytest.approx((points[0], *cis[:, 0]))
            mean = (r["score_mean"], r["score_mean_low"], r["score_mean_high"])
            assert mean == pytest.approx((points[1], *cis[:, 1]))
            assert r["iqm_n"] == len(scores) and r["iqm_note"] == ""
            assert "score = mean of the last 3 evaluations" in r["note"]
    # Hopper's SAC-SVG(H) scores (the final evaluation - 50): 850, 1150, 250, 1450; the IQM drops one from each
    # end (25% of 4) and averages 850 and 1150.
    hopper = row(t2, task="poplin-hopper", horizon=2.0)
    assert hopper["iqm"] == pytest.approx(1000.0) and hopper["score_mean"] == pytest.approx(925.0)
    shown = two_tasks.tables.display["table2"].set_index(["Task", "Method"])
    assert shown.loc[("poplin-hopper (Hopper)", "SAC-SVG(H=2)"), "IQM [95% CI]"] == (
        f"1000.0 [{hopper['iqm_low']:.1f}, {hopper['iqm_high']:.1f}]")
    # The paper-format mean stays the mean of the last evaluations: 900, 1200, 300, 1500.
    assert hopper["mean"] == pytest.approx(975.0)


def test_table4_intervals_are_over_the_best_schedules_scores(two_tasks):
    r = row(two_tasks.tables.table4, task="poplin-cheetah")
    assert (r["target_entropy_init"], r["target_entropy_final"], r["target_entropy_beta"]) == (0, -3, 0.1)
    exp = two_tasks.results.experiments.set_index("experiment").loc["poplin-cheetah-sweep-smoke", "path"]
    scores = np.array([650.0, 850.0, 1950.0])  # the best schedule's final evaluations - 50
    assert sorted(independent_scores(Path(exp), 2)[:3]) == pytest.approx(scores)
    points, cis = rliable_iqm_and_mean(scores)
    assert (r["iqm"], r["iqm_low"], r["iqm_high"]) == pytest.approx((points[0], *cis[:, 0]))
    assert (r["score_mean"], r["score_mean_low"], r["score_mean_high"]) == pytest.approx((points[1], *cis[:, 1]))


def test_probability_of_improvement_per_task_and_over_tasks_equals_rliables(two_tasks):
    t2 = two_tasks.tables.table2
    # Cheetah: SAC-SVG(H) 2950, 4950, 3950 against SAC 950, 2450, 1950: every pair is won.
    cheetah = row(t2, task="poplin-cheetah", horizon=2.0)
    assert (cheetah["poi_vs_our_sac"], cheetah["poi_vs_our_sac_low"], cheetah["poi_vs_our_sac_high"]) == (1, 1, 1)
    # Over both tasks: each method's first three trials per task (in folder order), as rliable's (runs, tasks).
    svg = np.column_stack([[2950.0, 4950.0, 3950.0], [850.0, 1150.0, 250.0]])
    sac = np.column_stack([[950.0, 2450.0, 1950.0], [150.0, 950.0, 350.0]])
    np.random.seed(SEED)
    points, cis = rly.get_interval_estimates({"x,y": (np.sort(svg, axis=0), np.sort(sac, axis=0))},
                                             metrics.probability_of_improvement, reps=REPS)
    poi = two_tasks.tables.table2_poi.iloc[0]
    assert poi["tasks"] == "poplin-cheetah, poplin-hopper" and (poi["runs_svg"], poi["runs_sac"]) == (3, 3)
    # Hopper by hand: 850 beats 150 and 350, 1150 beats all three, 250 beats 150: 6 of 9; Cheetah 9 of 9.
    assert poi["poi"] == pytest.approx(points["x,y"]) == pytest.approx((1 + 6 / 9) / 2)
    assert (poi["poi_low"], poi["poi_high"]) == pytest.approx(tuple(np.ravel(cis["x,y"])))
    assert "first trials per task" in poi["note"]
    assert (two_tasks.out / "table2_poi.md").read_text().count("SAC-SVG(H=2) vs SAC (H=0)") == 1


def test_probability_of_improvement_of_separated_samples_is_one_and_zero():
    high, low = np.array([10.0, 11.0, 12.0, 13.0]), np.array([1.0, 2.0, 3.0])
    assert intervals.probability_of_improvement(high, low, REPS) == Estimate(1.0, 1.0, 1.0, 3)
    assert intervals.probability_of_improvement(low, high, REPS) == Estimate(0.0, 0.0, 0.0, 3)
    tied = intervals.probability_of_improvement(low, low, REPS)
    assert tied.point == pytest.approx(0.5) and tied.low < 0.5 < tied.high


def test_too_few_trials_give_the_point_and_the_note(tmp_path):
    summary = intervals.summarize_arms({"two": [1.0, 2.0, math.nan], "none": []}, REPS)
    two, none = summary["two"], summary["none"]
    assert (two.iqm.point, two.mean.point, two.iqm.n) == (1.5, 1.5, 2)
    assert math.isnan(two.iqm.low) and math.isnan(two.mean.high)
    assert two.iqm.note == "no interval: n=2 < 3 trials"
    assert two.iqm.cell() == "1.5 (no interval: n=2 < 3 trials)"
    assert none.iqm.cell() == "—" and none.iqm.note == "no trials with a score"
    poi = intervals.probability_of_improvement(np.array([5.0, 6.0]), np.array([1.0, 2.0, 3.0]))
    assert poi.point == 1.0 and math.isnan(poi.low) and poi.note == "no interval: n=2 < 3 trials"
    # In a table: two trials of each method.
    write_experiment(tmp_path, "poplin-swimmer", "poplin", "reproduce",
                     {(h, -1, -8, 0.5, s): 100.0 * s + 1000.0 * h for h in (0, 2) for s in (1, 2)})
    built = tables.Tables.build(load.read_results(load.select_experiments(tmp_path)), REPS)
    shown = built.display["table2"].set_index("Method")
    assert shown.loc["SAC-SVG(H=2)", "IQM [95% CI]"].endswith("(no interval: n=2 < 3 trials)")
    assert shown.loc["SAC-SVG(H=2)", "P(> our SAC) [95% CI]"] == "1.00 (no interval: n=2 < 3 trials)"
    assert built.display["table2_poi"]["P(improvement) [95% CI]"].item() == "1.00 (no interval: n=2 < 3 trials)"


# ---------------------------------------------------------------- normalized scores and plots


def test_random_returns_cover_every_task_and_reproduce():
    from tasks import TASKS

    assert set(normalization.RANDOM_RETURNS) == set(TASKS)
    assert normalization.random_return("poplin-swimmer", 10, 0) == pytest.approx(
        normalization.RANDOM_RETURNS["poplin-swimmer"], abs=0.005)


def test_normalized_scores_put_random_at_zero_and_the_paper_at_one(two_tasks):
    matrices, task_names = normalization.normalized_scores(two_tasks.results)
    assert task_names == ["poplin-cheetah", "poplin-hopper"]
    assert set(matrices) == {"SAC (H=0)", "SAC-SVG(H=2)"} and matrices["SAC-SVG(H=2)"].shape == (3, 2)
    random, paper = normalization.RANDOM_RETURNS["poplin-hopper"], 1869.73  # the paper's Table 2, Hopper
    assert matrices["SAC-SVG(H=2)"][0, 1] == pytest.approx((850.0 - random) / (paper - random))
    assert normalization.normalize([random, paper], "poplin-hopper", "poplin", "Hopper") == pytest.approx([0, 1])
    assert f"normalized: random policy {random:.1f} = 0, paper's SAC-SVG(H) 1869.7 = 1" in row(
        two_tasks.tables.table2, task="poplin-hopper", horizon=0.0)["note"]


def assert_image(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.width > 200 and image.height > 100
        assert len(set(image.convert("L").getdata())) > 10, f"{path.name} is blank"


def test_plots_written_and_read_back(two_tasks, tmp_path):
    names = {p.name for p in two_tasks.plots}
    assert {"aggregate_metrics.png", "performance_profiles.png", "poplin-cheetah_learning_curves.png",
            "poplin-hopper_learning_curves.png"} <= names
    for path in two_tasks.plots:
        assert_image(path)
    mean_std = plots.learning_curves(two_tasks.results, "poplin-hopper", tmp_path, plots.MEAN_STD, REPS)
    assert_image(mean_std)


def test_iqm_curve_equals_rliable_per_step(two_tasks):
    curves = two_tasks.results.curves
    hopper = curves[(curves["task"] == "poplin-hopper") & (curves["horizon"] == 2.0)]
    stats = plots.iqm_curve(hopper, "eval_return", EVAL_INTERVAL, REPS).set_index("env_steps")
    assert list(stats.index) == list(range(EVAL_INTERVAL, TRAIN_STEPS + 1, EVAL_INTERVAL)) and set(stats["n"]) == {4}
    last = np.array([900.0, 1200.0, 300.0, 1500.0])  # every trial's evaluation at the last step
    assert stats.loc[TRAIN_STEPS, "iqm"] == pytest.approx(metrics.aggregate_iqm(last))
    matrix = np.stack([last - 50.0 * (TRAIN_STEPS - s) / EVAL_INTERVAL for s in stats.index], axis=1)
    _, lows, highs = intervals.iqm_over_steps(matrix, REPS)  # rows in trial folder order, as iqm_curve's
    assert list(stats["low"]) == pytest.approx(list(lows)) and list(stats["high"]) == pytest.approx(list(highs))
