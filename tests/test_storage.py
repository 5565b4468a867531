"""Results storage and the one results reader: a plain folder and a `file://` URI give the same manifest,
resume checks, best schedule and tables; `make reproduce --from-sweep` and Table 4 pick the same group
(ties, H = 0 groups, trials with only result.json or nothing); the node check of a multi-node cluster."""

from __future__ import annotations

import json
import math
import pickle

import pandas as pd
import pytest

from dashboards import load, tables
from dashboards.table4 import table4
from sweeps import cli, ray_setup
from sweeps import plan as plans
from sweeps.results import best_schedule, read_progress, trial_table
from sweeps.storage import Location
from sweeps.tuner import check_resume, make_tuner
from tests.conftest import REPO
from tests.test_trust import write_checkpoint

TASK = "Hopper"
KEYS = ["horizon", "target_entropy_init", "target_entropy_final", "target_entropy_beta"]


def where(path, kind: str) -> str:
    """`path` as the user writes it: a plain path or a file:// URI."""
    return str(path) if kind == "path" else path.as_uri()


@pytest.fixture(params=["path", "uri"])
def kind(request) -> str:
    return request.param


# ---------------------------------------------------------------- a synthetic sweep


def write_trial(exp, name: str, schedule: tuple, seed: int, final: float | None, source: str = "csv"):
    """A trial folder: params.json, and its evaluations in progress.csv, result.json only, or nothing."""
    trial = exp / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({**dict(zip(KEYS, schedule)), "seed": seed, "env": TASK}))
    rows = [{"training_iteration": 1, "env_steps": 500, "eval_return": final - 50},
            {"training_iteration": 2, "env_steps": 750, "eval_return": None},
            {"training_iteration": 3, "env_steps": 1000, "eval_return": final}] if final is not None else []
    if source == "csv":
        pd.DataFrame(rows).to_csv(trial / "progress.csv", index=False)
    elif source == "json":
        (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


A = (2, 0, -4, 2)  # mean 100 over 2 seeds
C = (2, 0, -8, 1)  # mean 100 over 2 seeds (+ a trial with no results): ties with A, smaller H_final
D = (3, -1, -1, None)  # mean 100 over 3 seeds, one of them only in result.json: more seeds than A and C
SAC = (0, 0, -9, 1)  # H = 0: never chosen while SAC-SVG(H) groups exist


def write_sweep(root, d_result_json: bool):
    exp = root / f"{TASK}-sweep-smoke"
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text(json.dumps({"task": TASK, "mode": "sweep", "budget": "smoke",
                                                "train_steps": 1000, "created": "2025-01-01T00:00:00"}))
    # Folder names put A first, so a rule that follows folder order would pick A.
    for seed in (1, 2):
        write_trial(exp, f"a_{seed}", A, seed, 100.0)
        write_trial(exp, f"m_{seed}", D, seed, 100.0 + (-10 if seed == 1 else 10))
        write_trial(exp, f"z_{seed}", C, seed, 100.0)
        write_trial(exp, f"s_{seed}", SAC, seed, 5000.0)
    write_trial(exp, "z_3", C, 3, None, source="none")
    write_trial(exp, "m_3", D, 3, 100.0, source="json" if d_result_json else "none")
    return exp


def schedule_of(values: tuple) -> dict:
    return dict(zip(KEYS, values))


@pytest.mark.parametrize("d_result_json, winner", [(True, D), (False, C)])
def test_reproduce_from_sweep_and_table4_choose_the_same_schedule(tmp_path, kind, d_result_json, winner):
    write_sweep(tmp_path, d_result_json)
    exp = where(tmp_path / f"{TASK}-sweep-smoke", kind)
    assert best_schedule(Location.of(exp)) == schedule_of(winner)

    results = load.read_results(load.select_experiments(Location.of(where(tmp_path, kind))))
    row = table4(results).iloc[0]
    chosen = {key: None if pd.isna(row[key]) else row[key] for key in KEYS}
    assert chosen == schedule_of(winner)
    assert row["n"] == (3 if winner == D else 2) and row["mean"] == 100.0

    plan = plans.make_plan(cli.parse_args(["--task", TASK, "--budget", "smoke", "--results", str(tmp_path / "r"),
                                           "--from-sweep", exp], "reproduce"))
    schedule = {k: v for k, v in schedule_of(winner).items() if k != "horizon"}
    assert {(t["horizon"], *(t[k] for k in schedule)) for t in plan.trials} == {
        (h, *schedule.values()) for h in (winner[0], 0)}


def test_a_trial_with_only_result_json_or_nothing(tmp_path, kind):
    exp = write_sweep(tmp_path, d_result_json=True)
    table = trial_table(Location.of(where(exp, kind))).set_index("trial")
    assert table.loc["m_3", "final_eval"] == 100.0 and table.loc["m_3", "env_steps"] == 1000
    assert math.isnan(table.loc["z_3", "final_eval"]) and table.loc["z_3", "iterations"] == 0
    assert table.loc["a_1", "final_eval"] == 100.0  # the last evaluation, not the last row
    assert read_progress(Location.of(where(exp / "z_3", kind))).empty


def test_an_h0_only_sweep_falls_back_to_its_best_sac_group(tmp_path):
    exp = tmp_path / "exp"
    write_trial(exp, "t1", SAC, 1, 10.0)
    write_trial(exp, "t2", (0, -2, -2, None), 1, 20.0)
    assert best_schedule(Location.of(exp)) == schedule_of((0, -2, -2, None))


# ---------------------------------------------------------------- manifest and resume checks


def plan_at(results: str, *argv):
    return plans.make_plan(cli.parse_args(["--task", TASK, "--budget", "smoke", "--results", results,
                                           "--no-dashboard", *argv]))


def test_manifest_is_written_and_checked_at_a_uri_or_a_path(tmp_path, kind, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URI mistaken for a path would land in ./file:
    results = where(tmp_path / "shared", kind)
    plan = plan_at(results)
    assert str(plan.exp_dir) == f"{results}/{TASK}-sweep-smoke"
    plans.write_manifest(plan)
    written = tmp_path / "shared" / f"{TASK}-sweep-smoke" / "sweep.json"
    assert json.loads(written.read_text())["trials"] == plan.trials
    plans.write_manifest(plan_at(results))  # the same command: resumes
    with pytest.raises(plans.SweepInputError, match="differs in: overrides"):
        plans.write_manifest(plan_at(results, "--set", "horizon=3"))
    assert not (tmp_path / "file:").exists()

    tuner = make_tuner(plan, cli.parse_args(["--task", TASK]))
    assert tuner._local_tuner.get_run_config().storage_path == results  # unchanged, no Path(...).resolve()
    assert not (tmp_path / "file:").exists()


def test_a_corrupt_checkpoint_at_a_uri_or_a_path_is_named(tmp_path, kind):
    plan = plan_at(where(tmp_path, kind))
    trial = tmp_path / f"{TASK}-sweep-smoke" / "trial_unfinished"
    state = trial / "checkpoint_000001" / "learner_group" / "learner" / "state.pkl"

    def write_state(content: bytes) -> None:  # complete by its manifest, signed by this user's driver
        write_checkpoint(trial / "checkpoint_000001", {"learner_group/learner/state.pkl": content})

    write_state(b"truncated")
    (trial / "params.json").write_text(json.dumps({"horizon": 2, "seed": 1}))
    (trial / "progress.csv").write_text("env_steps,eval_return\n250,\n")
    with pytest.raises(plans.SweepInputError) as error:
        check_resume(plan)
    named = where(state, kind)
    assert "cannot resume trial trial_unfinished" in str(error.value) and named in str(error.value)
    write_state(pickle.dumps({"env_steps": 250}))  # a complete, plain-data checkpoint passes
    check_resume(plan)


def test_a_cloud_uri_is_kept_as_given():
    plan = plan_at("s3://bucket/svglab?region=us-east-1")
    assert str(plan.exp_dir) == f"s3://bucket/svglab/{TASK}-sweep-smoke?region=us-east-1"
    assert str(plan.exp_dir.parent) == "s3://bucket/svglab?region=us-east-1"
    assert plan.exp_dir.local is None and plan.exp_dir.path == f"bucket/svglab/{TASK}-sweep-smoke"


def test_an_unknown_scheme_fails_before_ray():
    with pytest.raises(plans.SweepInputError, match="--results nosuch://x"):
        plan_at("nosuch://x")


# ---------------------------------------------------------------- tables from a URI


def test_tables_read_a_uri_and_write_locally(tmp_path, monkeypatch):
    write_sweep(tmp_path / "shared", d_result_json=True)
    monkeypatch.chdir(tmp_path)
    assert tables.main(["--results", (tmp_path / "shared").as_uri(), "--no-wandb"]) == 0
    written = (tmp_path / "results" / "tables" / "table4.csv")
    assert pd.read_csv(written)["target_entropy_final"].tolist() == [-1.0]
    assert not (tmp_path / "file:").exists() and not (REPO / "file:").exists()


# ---------------------------------------------------------------- nodes that do not share the storage


def test_a_node_reading_another_manifest_is_named(tmp_path, local_ray):
    """The probe runs on each node (here the only one) and compares the manifest it reads with the driver's:
    a node with its own disk holds no sweep.json, or a stale one."""
    import ray

    manifest = tmp_path / "sweep.json"
    manifest.write_text('{"created": "now"}')
    node = [n for n in ray.nodes() if n["Alive"]]
    address = node[0]["NodeManagerAddress"]
    for kind in ("path", "uri"):
        assert ray_setup.nodes_without(Location.of(where(manifest, kind)), '{"created": "now"}', node) == []
        assert ray_setup.nodes_without(Location.of(where(manifest, kind)), '{"created": "later"}', node) == [address]
    missing = Location.of(tmp_path / "elsewhere" / "sweep.json")
    assert ray_setup.nodes_without(missing, '{"created": "now"}', node) == [address]
