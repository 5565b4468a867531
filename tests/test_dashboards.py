"""Tests of dashboards/: Tables 2 and 4, the plots and the HTML report.

Synthetic experiment folders (written below in the sweeps' layout: sweep.json, and per trial
params.json + progress.csv) have known numbers, so the best schedule, the means and stds and the
incomplete markers are checked exactly against an independent pandas computation. When the shared
``smoke_sweep`` fixture (tests/conftest.py) exists, the same checks run on a real smoke sweep.
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from dashboards import formats, load, paper_numbers, plots, report, table2, tables, wandb_tables
from dashboards.stats import welch_p
from sweeps import results as sweep_results
from sweeps import wandb_logging
from tests.conftest import REPO

TRAIN_STEPS = 3000
EVAL_INTERVAL = 1000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# (H, H_init, H_final, beta, seed) -> final eval return. Sweep of poplin-cheetah: three schedules
# with three seeds each; the best by mean is (0, -3, 0.1) although (1, -2, null) has the single
# highest trial.
SWEEP_FINALS = {
    (2, 0, -3, 0.1, 1): 900.0, (2, 0, -3, 0.1, 2): 1100.0, (2, 0, -3, 0.1, 3): 1000.0,
    (2, 1, -2, None, 1): 1500.0, (2, 1, -2, None, 2): 100.0, (2, 1, -2, None, 3): 200.0,
    (2, -1, -8, 0.5, 1): 500.0, (2, -1, -8, 0.5, 2): 400.0, (2, -1, -8, 0.5, 3): 600.0,
}
# Reproduce of poplin-cheetah: H=2 with 4 seeds (one still running), H=0 with 3 seeds.
REPRO_FINALS = {
    (2, 0, -3, 0.1, 1): 8000.0, (2, 0, -3, 0.1, 2): 7000.0, (2, 0, -3, 0.1, 3): 9500.0,
    (2, 0, -3, 0.1, 4): 6000.0,
    (0, 0, -3, 0.1, 1): 5000.0, (0, 0, -3, 0.1, 2): 6500.0, (0, 0, -3, 0.1, 3): 6100.0,
}
RUNNING = {(2, 0, -3, 0.1, 4)}  # stopped at 2/3 of the training length
# Walker2d (MBPO): a sweep only; one trial has not evaluated yet and one has no results at all.
WALKER_FINALS = {
    (2, -2, -3, 64, 1): 300.0, (2, -2, -3, 64, 2): 500.0,
    (2, 1, -5, 2, 1): 100.0, (2, 1, -5, 2, 2): None,
}


# ---------------------------------------------------------------- synthetic folders


def write_experiment(root: Path, task: str, suite: str, mode: str, finals: dict,
                     running: set = frozenset(), created: str = "2025-01-01T00:00:00",
                     budget: str = "smoke", empty: tuple = ()) -> Path:
    """An experiment folder in the sweeps' layout with the given final evaluation returns.

    Each trial evaluates every EVAL_INTERVAL steps (blank eval_return in between); its last
    evaluation is ``finals[key]`` (None: never evaluated). ``running`` trials stop early;
    ``empty`` lists configs whose trial folder has params.json but no progress yet.
    """
    exp = root / f"{task}-{mode}-{budget}"
    exp.mkdir(parents=True)
    keys = list(finals) + list(empty)
    (exp / "sweep.json").write_text(json.dumps({
        "task": task, "suite": suite, "mode": mode, "budget": budget,
        "train_steps": TRAIN_STEPS, "eval_interval": EVAL_INTERVAL, "num_samples": len(keys),
        "seeds": sorted({k[4] for k in keys}), "sweep_seed": 0, "search_space": {},
        "overrides": {}, "created": created}))
    for i, key in enumerate(keys):
        horizon, init, final, beta, seed = key
        trial = exp / f"SACSVG_{i:05d}_{i}_seed={seed}_2025-01-01_00-00-00"
        trial.mkdir()
        (trial / "params.json").write_text(json.dumps({
            "horizon": horizon, "target_entropy_init": init, "target_entropy_final": final,
            "target_entropy_beta": beta, "seed": seed, "env": f"svglab/{task}",
            "actor_lr": 1e-4}))
        if key in empty:
            continue
        last = TRAIN_STEPS * 2 // 3 if key in running else TRAIN_STEPS
        progress_frame(finals[key], last, init, final, beta).to_csv(trial / "progress.csv",
                                                                    index=False)
    return exp


def progress_frame(final: float | None, last_step: int, init, final_h, beta) -> pd.DataFrame:
    """Iterations every 500 steps up to ``last_step``; evals every EVAL_INTERVAL."""
    steps = np.arange(500, last_step + 1, 500)
    evals = [(final - 50.0 * (last_step - s) / EVAL_INTERVAL
              if final is not None and s % EVAL_INTERVAL == 0 else math.nan) for s in steps]
    entropy = plots.entropy_schedule(steps, TRAIN_STEPS, init, final_h, beta)
    return pd.DataFrame({
        "training_iteration": np.arange(1, len(steps) + 1), "env_steps": steps,
        "eval_return": evals, "train_return": np.linspace(0, 100, len(steps)),
        "target_entropy": entropy, "alpha": 0.1, "model_error": 1.0 / steps,
        "loss_actor": 0.0, "loss_critic": 1.0, "loss_dynamics": 0.5, "done": False,
        "trial_id": "abc", "env_runners/episode_return_mean": 3.0,
        "info/learner/default_policy/total_loss": 2.0})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    write_experiment(root, "poplin-cheetah", "poplin", "sweep", SWEEP_FINALS)
    write_experiment(root, "poplin-cheetah", "poplin", "reproduce", REPRO_FINALS, RUNNING)
    write_experiment(root, "Walker2d", "mbpo", "sweep", WALKER_FINALS,
                     empty=((2, 1, -5, 2, 3),))
    # An older Walker2d sweep that must be ignored by the default (latest) selection.
    old = write_experiment(root / "old", "Walker2d", "mbpo", "sweep",
                           {(2, 0, 0, None, 1): 99999.0}, created="2024-01-01T00:00:00")
    shutil.move(str(old), root / "Walker2d-sweep-older")
    return root


@pytest.fixture(scope="module")
def generated(synthetic, tmp_path_factory) -> tables.Generated:
    return tables.generate(synthetic, out=tmp_path_factory.mktemp("out"), use_wandb=False)


# ---------------------------------------------------------------- independent pandas computation


def independent_finals(exp: Path) -> pd.DataFrame:
    """Each trial's last eval_return, read with plain pandas (not dashboards.load)."""
    rows = []
    for params_path in sorted(exp.glob("*/params.json")):
        params = json.loads(params_path.read_text())
        csv = params_path.parent / "progress.csv"
        last = math.nan
        if csv.exists():
            evals = pd.read_csv(csv)["eval_return"].dropna()
            last = evals.iloc[-1] if len(evals) else math.nan
        rows.append({"horizon": params["horizon"], "init": params["target_entropy_init"],
                     "final": params["target_entropy_final"],
                     "beta": -1.0 if params["target_entropy_beta"] is None
                     else params["target_entropy_beta"], "final_eval": last})
    return pd.DataFrame(rows)


def expected_best(exp: Path) -> pd.Series:
    finals = independent_finals(exp)
    grouped = finals.groupby(["horizon", "init", "final", "beta"])["final_eval"].agg(
        ["mean", "std", "count", "size"])
    return grouped.sort_values("mean", ascending=False).reset_index().iloc[0]


def row(frame: pd.DataFrame, **match) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for key, value in match.items():
        mask &= frame[key] == value
    assert mask.sum() == 1, f"expected one row for {match}, got {mask.sum()}"
    return frame[mask].iloc[0]


# ---------------------------------------------------------------- loading



def schedule_of(row: pd.Series, prefix: str = "") -> tuple:
    """A Table 4 row's (target_entropy_init, target_entropy_final, target_entropy_beta), ours or the paper's."""
    return tuple(row[prefix + key] for key in load.SCHEDULE)

def test_latest_experiment_per_task_and_mode(synthetic):
    chosen = {p.name for p in load.select_experiments(synthetic)}
    assert chosen == {"poplin-cheetah-sweep-smoke", "poplin-cheetah-reproduce-smoke",
                      "Walker2d-sweep-smoke"}


def test_trials_frame_statuses(generated):
    trials = generated.results.trials
    walker = trials[trials["task"] == "Walker2d"]
    assert sorted(walker["status"]) == sorted(
        [sweep_results.COMPLETE] * 3 + [sweep_results.NO_EVAL, sweep_results.NO_RESULTS])
    repro = trials[trials["mode"] == "reproduce"]
    assert (repro["status"] == sweep_results.RUNNING).sum() == 1
    assert repro.loc[repro["status"] == sweep_results.RUNNING, "final_eval"].item() == 6000.0


# ---------------------------------------------------------------- Table 4


def test_table4_selects_best_schedule(generated, synthetic):
    best = expected_best(synthetic / "poplin-cheetah-sweep-smoke")
    r = row(generated.tables.table4, task="poplin-cheetah")
    assert schedule_of(r) == (best["init"], best["final"], best["beta"])
    assert schedule_of(r) == (0, -3, 0.1)  # by mean, not by max trial
    assert r["mean"] == pytest.approx(best["mean"]) and r["std"] == pytest.approx(best["std"])
    assert r["n"] == 3 and r["configs"] == 3
    # The paper's Table 4 comes from the task registry: Cheetah (POPLIN) is 0, -3, 0.1.
    assert schedule_of(r, "paper_") == (0, -3, 0.1)
    assert r["matches_paper"]
    assert r["incomplete"]  # 3 seeds < 10


def test_table4_ignores_unevaluated_trials_and_marks_them(generated):
    r = row(generated.tables.table4, task="Walker2d")
    # (-2, -3, 64) has mean 400 over two seeds; (1, -5, 2) has only 100 evaluated.
    assert schedule_of(r) == (-2, -3, 64)
    assert r["mean"] == pytest.approx(400.0) and r["n"] == 2
    assert r["configs"] == 2
    assert r["paper_target_entropy_beta"] == 64 and r["matches_paper"]


def test_table4_shows_every_return_by_its_one_score_rule(generated, synthetic):
    """The printed row's returns are all trial scores by the rule its note names (a smoke budget: the mean of
    the last 3 evaluations), not the last evaluation beside them: Cheetah's best schedule has last evaluations
    900, 1100, 1000 and scores 850, 1050, 950."""
    from dashboards.formats import INCOMPLETE, fmt_stat
    from dashboards.table4 import SCORE_COLUMN, display_table4

    exp = synthetic / "poplin-cheetah-sweep-smoke"
    scores = []
    for params_path in sorted(exp.glob("*/params.json")):
        params = json.loads(params_path.read_text())
        if tuple(params[k] for k in load.SCHEDULE) == (0, -3, 0.1):
            scores.append(pd.read_csv(params_path.parent / "progress.csv")["eval_return"].dropna().iloc[-3:].mean())
    assert sorted(scores) == [850.0, 950.0, 1050.0]
    r = row(generated.tables.table4, task="poplin-cheetah")
    assert "score = mean of the last 3 evaluations" in r["note"]
    shown = display_table4(generated.tables.table4).set_index("Task")
    cheetah = shown.loc[[label for label in shown.index if "poplin-cheetah" in label][0]]
    assert cheetah[SCORE_COLUMN] == f"{fmt_stat(np.mean(scores), np.std(scores, ddof=1), 3)} {INCOMPLETE}"
    assert cheetah["Mean [95% CI]"].startswith(f"{np.mean(scores):.1f}")
    assert "Best mean final eval" not in shown.columns


def test_table4_shows_the_official_schedule_beside_the_papers(generated):
    """The official config files (docs/official-code.md) give POPLIN Cheetah (-1, -4, 1) and MBPO Walker2d
    (-2, -8, 1/16)."""
    from dashboards.table4 import display_table4

    t4 = generated.tables.table4
    assert schedule_of(row(t4, task="poplin-cheetah"), "official_") == (-1, -4, 1)
    assert schedule_of(row(t4, task="Walker2d"), "official_") == (-2, -8, 1 / 16)
    assert not row(t4, task="Walker2d")["matches_official"] and row(t4, task="Walker2d")["matches_paper"]
    shown = display_table4(t4).set_index("Task")
    walker = shown.loc[[label for label in shown.index if "Walker2d" in label][0]]
    assert (walker["Paper H_init"], walker["Paper H_final"], walker["Paper beta"]) == ("-2", "-3", "64")
    assert (walker["Official H_init"], walker["Official H_final"], walker["Official beta"]) == ("-2", "-8", "0.0625")
    assert walker["Same as paper"] == "yes" and walker["Same as official"] == "no"
    no_official = t4.assign(task="HalfCheetah", **{f"official_{k}": math.nan for k in load.SCHEDULE},
                            matches_official=None)
    assert set(display_table4(no_official)[["Official H_init", "Official beta", "Same as official"]].iloc[0]) == {"—"}


# ---------------------------------------------------------------- Table 2


def test_table2_mean_std_match_independent_pandas(generated, synthetic):
    finals = independent_finals(synthetic / "poplin-cheetah-reproduce-smoke")
    expected = finals.groupby("horizon")["final_eval"].agg(["mean", "std", "count"])
    t2 = generated.tables.table2
    for horizon, exp in expected.iterrows():
        r = row(t2, task="poplin-cheetah", horizon=float(horizon))
        assert r["mean"] == pytest.approx(exp["mean"])
        assert r["std"] == pytest.approx(exp["std"])
        assert r["n"] == exp["count"]
        assert r["source"] == "reproduce"


def test_table2_references_and_welch_p(generated):
    t2 = generated.tables.table2
    svg = row(t2, task="poplin-cheetah", horizon=2.0)
    paper = paper_numbers.table2("SAC-SVG(H) (paper)", "Cheetah")
    poplin = paper_numbers.table2("POPLIN-P", "Cheetah")
    assert (svg["paper_mean"], svg["paper_std"], svg["paper_n"]) == (8211.56, 1125.93, 10)
    assert (svg["poplin_mean"], svg["poplin_std"], svg["poplin_n"]) == (4235.0, 1133.0, 4)
    for ref, col in ((paper, "p_vs_paper"), (poplin, "p_vs_poplin")):
        expected = stats.ttest_ind_from_stats(svg["mean"], svg["std"], svg["n"], ref.mean,
                                              ref.std, ref.n, equal_var=False).pvalue
        assert svg[col] == pytest.approx(expected)
    sac = row(t2, task="poplin-cheetah", horizon=0.0)
    assert sac["paper_method"] == "SAC (paper)" and sac["paper_mean"] == 6211.28
    assert sac["poplin_method"] == "SAC (POPLIN)" and sac["poplin_mean"] == 3459.8


def test_table2_incomplete_cells_show_real_n(generated):
    t2 = generated.tables.table2
    svg = row(t2, task="poplin-cheetah", horizon=2.0)
    assert svg["incomplete"] and svg["n"] == 4 and svg["n_complete"] == 3
    assert "4 of 10 trials" in svg["note"] and "1 of 4 not at 3k steps" in svg["note"]
    shown = generated.tables.display["table2"]
    cell = shown[(shown["Task"] == "poplin-cheetah (Cheetah)") & (shown["Method"] == "SAC-SVG(H=2)")]["Ours"].item()
    assert "(n=4)" in cell and cell.endswith(formats.INCOMPLETE)


def test_table2_marks_reduced_budgets_and_compares_svg_with_our_sac(generated):
    """A smoke (or short) run is marked reduced, with its sizes; SAC-SVG(H) is compared with the SAC trials of
    the same run by the probability of improvement of their scores (smoke: the mean of the last 3
    evaluations, final - 50 for a complete synthetic trial, final - 25 for the one stopped after 2)."""
    t2 = generated.tables.table2
    svg, sac = row(t2, task="poplin-cheetah", horizon=2.0), row(t2, task="poplin-cheetah", horizon=0.0)
    assert svg["reduced"] and "reduced budget 'smoke': 64-unit networks, batches 64/32" in svg["note"]
    assert "score = mean of the last 3 evaluations" in svg["note"]
    # SVG scores 7950, 6950, 9450, 5975 against SAC 4950, 6450, 6050: 10 of the 12 pairs are won.
    assert svg["poi_vs_our_sac"] == pytest.approx(10 / 12)
    assert svg["poi_vs_our_sac_low"] <= 10 / 12 <= svg["poi_vs_our_sac_high"]
    assert math.isnan(sac["poi_vs_our_sac"])
    shown = generated.tables.display["table2"]
    assert set(shown[shown["Task"] == "poplin-cheetah (Cheetah)"]["Steps"]) == {f"3k {formats.REDUCED}"}
    assert formats.REDUCED in formats.LEGEND and r"\ddagger" in (generated.out / "table2.tex").read_text()
    assert table2.reduced_note("paper") == ""


def test_table2_notes_model_based_cells_not_run_in_float32(tmp_path):
    """The world model's dtype each trial reports: a SAC-SVG(H) cell with bfloat16 trials says how many; float32
    trials and the SAC cell (no world model) get no such note."""
    finals = {(2, 0, -3, 0.1, seed): 100.0 * seed for seed in (1, 2, 3)} | {(0, 0, -3, 0.1, 1): 50.0}
    exp = write_experiment(tmp_path, "poplin-cheetah", "poplin", "reproduce", finals)
    for trial in exp.glob("*/progress.csv"):
        seed, horizon = (json.loads((trial.parent / "params.json").read_text())[k] for k in ("seed", "horizon"))
        frame = pd.read_csv(trial)
        frame["world_model_dtype"] = "bfloat16" if horizon and seed < 3 else "float32"
        frame.to_csv(trial, index=False)
    t2 = tables.generate(tmp_path, out=tmp_path / "out", use_wandb=False).tables.table2
    assert "world model in bfloat16, not float32, in 2 of 3 trials" in row(t2, horizon=2.0)["note"]
    assert "not float32" not in row(t2, horizon=0.0)["note"]


def test_table2_falls_back_to_best_sweep_schedule_and_says_so(generated):
    r = row(generated.tables.table2, task="Walker2d", horizon=2.0)
    assert r["source"].startswith("sweep") and "from the sweep" in r["note"]
    assert r["mean"] == pytest.approx(400.0) and r["n"] == 2
    # MBPO tasks: the reference is the official code's last evaluation, not POPLIN.
    assert r["paper_mean"] == 5753 and r["poplin_method"] == ""
    assert "trained 3k steps, reference 2M" in r["note"]
    sac = row(generated.tables.table2, task="Walker2d", horizon=0.0)
    assert sac["n"] == 0 and sac["incomplete"] and "no trials" in sac["note"]


def test_welch_p_undefined_below_two_trials():
    ref = paper_numbers.table2("POPLIN-P", "Ant")
    assert math.isnan(welch_p(100.0, math.nan, 1, ref))
    assert math.isnan(welch_p(100.0, 5.0, 3, None))


def test_paper_numbers_are_the_papers():
    assert paper_numbers.table2("SAC-SVG(H) (paper)", "PETS Cheetah").mean == 5086.40
    assert paper_numbers.table2("TD3 (POPLIN)", "Swimmer").std == 130.9
    assert paper_numbers.official_mbpo("HalfCheetah") == paper_numbers.official_mbpo("Cheetah")
    assert paper_numbers.official_mbpo("Humanoid", "best").mean == 9626
    assert len(paper_numbers.table2_rows()) == 7


# ---------------------------------------------------------------- files


def test_table_files_written(generated):
    for name in ("table2", "table4"):
        md = (generated.out / f"{name}.md").read_text()
        tex = (generated.out / f"{name}.tex").read_text()
        csv = pd.read_csv(generated.out / f"{name}.csv")
        assert md.count("\n|") >= 2 and formats.INCOMPLETE in md
        assert r"\toprule" in tex and r"\pm" in tex and r"\dagger" in tex
        pd.testing.assert_frame_equal(
            csv, generated.tables.raw(name).replace("", np.nan), check_dtype=False)
    assert "POPLIN (reported)" in (generated.out / "table2.md").read_text()


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("L"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 5, path


def test_plots_written(generated):
    names = {p.name for p in generated.plots}
    assert names == {
        "poplin-cheetah_learning_curves.png", "poplin-cheetah_model_error.png",
        "Walker2d_learning_curves.png", "Walker2d_model_error.png",
        "poplin-cheetah-sweep-smoke_entropy_schedules.png",
        "Walker2d-sweep-smoke_entropy_schedules.png"}
    for path in generated.plots:
        assert_png(path)


def test_entropy_schedule_is_equation_14():
    t = np.array([0.0, 50.0, 100.0])
    assert plots.entropy_schedule(t, 100, 4, -8, 0.5) == pytest.approx(
        [4.0, (4 + 8) * 0.5 ** 0.5 - 8, -8.0])
    assert plots.entropy_schedule(t, 100, -1, -1, None) == pytest.approx([-1, -1, -1])


def test_aggregate_counts_each_seed_once():
    curves = pd.DataFrame({"trial": ["a", "a", "b"], "env_steps": [990, 1010, 1000],
                           "eval_return": [1.0, 3.0, 4.0]})
    stats_ = plots.aggregate(curves, "eval_return", 1000)
    assert stats_["mean"].tolist() == [3.0] and stats_["n"].tolist() == [2]


def test_tables_cli(synthetic, tmp_path, capsys):
    assert tables.main(["--results", str(synthetic), "--out", str(tmp_path), "--no-wandb",
                        "--sweep", "Walker2d-sweep-smoke"]) == 0
    printed = capsys.readouterr().out
    assert "Walker2d" in printed and "poplin-cheetah" not in printed
    assert (tmp_path / "table4.csv").exists() and (tmp_path / "plots").is_dir()


def test_experiment_without_trials_is_reported(tmp_path):
    write_experiment(tmp_path, "poplin-swimmer", "poplin", "sweep", {})
    gen = tables.generate(tmp_path, use_wandb=False)
    t4 = row(gen.tables.table4, task="poplin-swimmer")
    assert t4["configs"] == 0 and t4["n"] == 0 and t4["incomplete"] and t4["note"].startswith(
        "no trials")
    assert schedule_of(t4, "paper_") == (-1, -8, 0.5)
    t2 = gen.tables.table2
    assert sorted(t2["method"]) == ["SAC (H=0)", "SAC-SVG(H=2)"] and (t2["n"] == 0).all()
    assert t2["incomplete"].all()
    assert {p.name for p in gen.plots} >= {"poplin-swimmer_learning_curves.png"}


def test_empty_results_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(load.NoExperimentsError, match="no experiment folders"):
        tables.generate(tmp_path, use_wandb=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- report in headless Chromium


def chromium_dom(page: Path) -> str:
    """The DOM of ``page`` after load, as headless Chromium renders it."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run `make test-deps` "
                    "(apt-get install chromium) so the HTML report can be checked")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
            check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def check_report(gen: tables.Generated) -> str:
    path = report.write_report(gen, report.Pointers.find(gen.experiments))
    dom = chromium_dom(path)
    assert 'data-ready="yes"' in dom, "the page's load handler did not run"
    for name in ("table2", "table4"):
        assert f'id="{name}"' in dom
    images = dom.count("<img")
    assert images == len(gen.plots) > 0
    assert dom.count('data-loaded="yes"') == images, "some images did not load"
    return dom


def test_report_renders_in_chromium(generated):
    dom = check_report(generated)
    assert "<td>SAC-SVG(H=2)</td>" in dom and "<td>SAC (H=0)</td>" in dom
    t2 = row(generated.tables.table2, task="poplin-cheetah", horizon=2.0)
    assert f"{t2['mean']:.1f} ± {t2['std']:.1f} (n=4) {formats.INCOMPLETE}" in dom
    assert "POPLIN-P: 4235.0 ± 1133.0 (n=4)" in dom
    assert "tensorboard --logdir" in dom


def test_report_cli(synthetic, tmp_path, capsys):
    assert report.main(["--results", str(synthetic), "--out", str(tmp_path), "--no-wandb"]) == 0
    printed = capsys.readouterr().out
    assert "TensorBoard: tensorboard --logdir" in printed and "Ray dashboard" in printed
    assert f"Report: {(tmp_path / 'report.html').resolve()}" in printed


# ---------------------------------------------------------------- live dashboards


def test_wandb_runs_and_sync_command(tmp_path):
    exp = tmp_path / "Walker2d-sweep-smoke"
    offline = exp / "wandb" / "offline-run-20250101_000000-abc123"
    online = exp / "wandb" / "run-20250101_000000-xyz789" / "logs"
    offline.mkdir(parents=True)
    online.mkdir(parents=True)
    (online / "debug.log").write_text("View run at https://wandb.ai/me/svglab/runs/xyz789\n")
    runs = report.wandb_runs([exp])
    assert [(r.offline, r.url) for r in runs] == [
        (True, None), (False, "https://wandb.ai/me/svglab/runs/xyz789")]
    assert report.wandb_sync_command(runs) == f"wandb sync {offline}"
    lines = report.Pointers(None, "tensorboard --logdir x", runs).lines()
    assert f"W&B sync: wandb sync {offline}" in lines


def test_wandb_online_needs_key_and_mode(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_logging, "wandb_logged_in", lambda: False)
    assert not wandb_logging.wandb_online()
    monkeypatch.setattr(wandb_logging, "wandb_logged_in", lambda: True)
    assert wandb_logging.wandb_online()
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert not wandb_logging.wandb_online()


@pytest.mark.parametrize("stored, host", [(False, None), (True, None), (True, "example.test")])
def test_wandb_logged_in_reads_the_stored_key_quietly(tmp_path, stored, host):
    """The key `wandb login` stores (~/.netrc) counts, read through W&B's own readers: no deprecation warning,
    none of W&B's status lines, and no W&B service process (which contacts the server and can hang the exit)."""
    if stored:  # `wandb login [--host https://HOST]`: the key for that host, and the host in W&B's settings
        (tmp_path / ".netrc").write_text(f"machine {host or 'api.wandb.ai'}\n  login user\n  password {'a' * 40}\n")
        (tmp_path / ".netrc").chmod(0o600)
    if host:
        (tmp_path / ".config" / "wandb").mkdir(parents=True)
        (tmp_path / ".config" / "wandb" / "settings").write_text(f"[default]\nbase_url = https://{host}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {"HOME": str(tmp_path)}
    code = "from sweeps.wandb_logging import wandb_mode; print(wandb_mode())"
    process = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    assert (process.stdout.strip(), process.stderr) == ("online" if stored else "offline", "")
    assert not list(tmp_path.glob(".cache/wandb/logs/core-debug-*"))  # read as files: no W&B service started


def test_ray_dashboard_detected_when_it_answers(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "version").write_text("{}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            assert report.ray_dashboard(url) == url
        finally:
            server.shutdown()
    assert report.ray_dashboard(url) is None


# ---------------------------------------------------------------- the real smoke sweep


@pytest.fixture(scope="module")
def smoke(request, tmp_path_factory):
    """Tables, plots and report generated from the shared real smoke sweep."""
    try:
        sweep = request.getfixturevalue("smoke_sweep")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py has no smoke_sweep fixture yet")
    out = tmp_path_factory.mktemp("smoke_out")
    return Path(sweep), tables.generate(Path(sweep).parent, [Path(sweep)], out, use_wandb=False)


def smoke_expected(sweep: Path) -> dict[float, pd.Series]:
    """Independent pandas: per horizon, the final evals behind Table 2 for the smoke folder."""
    meta = json.loads((sweep / "sweep.json").read_text())
    finals = independent_finals(sweep)
    if meta["mode"] == "reproduce":
        return {float(h): g["final_eval"] for h, g in finals.groupby("horizon")}
    chosen = {}
    for h, g in finals.groupby("horizon"):
        means = g.groupby(["init", "final", "beta"])["final_eval"].agg(["mean", "count"])
        means = means.dropna(subset=["mean"])
        if len(means):
            best = means.sort_values(["mean", "count"], ascending=False, kind="stable").index[0]
            pick = (g["init"] == best[0]) & (g["final"] == best[1]) & (g["beta"] == best[2])
            chosen[float(h)] = g.loc[pick, "final_eval"]
    return chosen


@pytest.mark.slow
def test_smoke_table4_selects_best_schedule(smoke):
    sweep, gen = smoke
    meta = json.loads((sweep / "sweep.json").read_text())
    if meta["mode"] != "sweep":
        assert gen.tables.table4.empty
        return
    finals = independent_finals(sweep)
    svg = finals[finals["horizon"] != 0] if (finals["horizon"] != 0).any() else finals
    grouped = svg.groupby(["horizon", "init", "final", "beta"])["final_eval"].agg(
        ["mean", "count"]).dropna(subset=["mean"])
    r = row(gen.tables.table4, task=meta["task"])
    if grouped.empty:
        assert r["n"] == 0 and r["incomplete"]
        return
    best_mean = grouped["mean"].max()
    assert r["mean"] == pytest.approx(best_mean)
    init, final, beta = schedule_of(r)
    ours = (r["horizon"], init, final, -1.0 if pd.isna(beta) else beta)
    winners = grouped[np.isclose(grouped["mean"], best_mean)].index
    assert ours in set(winners)
    assert r["configs"] == finals.groupby(["horizon", "init", "final", "beta"]).ngroups


@pytest.mark.slow
def test_smoke_table2_mean_std_match_independent_pandas(smoke):
    sweep, gen = smoke
    expected = smoke_expected(sweep)
    t2 = gen.tables.table2
    assert len(expected) > 0
    for horizon, values in expected.items():
        r = row(t2, horizon=horizon)
        assert r["n"] == values.notna().sum() and r["n_trials"] == len(values)
        assert r["mean"] == pytest.approx(values.mean(), nan_ok=True)
        assert r["std"] == pytest.approx(values.std(), nan_ok=True)


@pytest.mark.slow
def test_smoke_incomplete_cells_marked(smoke):
    _, gen = smoke
    for _, r in gen.tables.table2.iterrows():
        should = r["n"] < 10 or r["n_complete"] < r["n_trials"] or r["n"] < r["n_trials"]
        assert bool(r["incomplete"]) == bool(should)
        if r["n"] < 10:
            assert f"{r['n']} of 10 trials" in r["note"] or r["n_trials"] == 0
    shown = gen.tables.display["table2"]["Ours"]
    assert shown.str.contains(r"\(n=\d+\)").all()


@pytest.mark.slow
def test_smoke_plots_written(smoke):
    _, gen = smoke
    assert any(p.name.endswith("_learning_curves.png") for p in gen.plots)
    assert any(p.name.endswith("_model_error.png") for p in gen.plots)
    for path in gen.plots:
        assert_png(path)


@pytest.mark.slow
def test_smoke_report_renders_in_chromium(smoke):
    _, gen = smoke
    dom = check_report(gen)
    for method in gen.tables.table2["method"]:
        assert f"<td>{method}</td>" in dom


def test_wandb_tables_logged(generated, synthetic, tmp_path, monkeypatch):
    """The W&B path end to end, offline (no network): both tables land in the run's files."""
    monkeypatch.setattr(wandb_tables, "wandb_online", lambda: True)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb
    wandb.teardown()  # W&B's process-wide settings may come from an earlier test: read WANDB_DIR afresh
    raw_tables = {name: generated.tables.raw(name) for name in formats.TITLES}
    wandb_tables.log_wandb(raw_tables, [synthetic / "Walker2d-sweep-smoke"])
    logged = {p.name.split("_")[0] for p in tmp_path.glob("wandb/offline-run-*/files/media/table/*")}
    assert logged == {"table2", "table4"}
