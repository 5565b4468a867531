"""A trained agent in hand (agents/): each trial's best-evaluation policy, `make evaluate`, `make video` and
`make export` on a real smoke sweep's trials, the exported policy run by plain torch against the RL module,
every bad input, and a trial recording its evaluation video (`--set eval_video=true`)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch

from agents import evaluate, export, video
from agents.load import MODULE_STATE, load
from algorithms.sac_svg import checkpoint, policy_file
from sweeps import eval_video
from sweeps import results as sweep_results
from tests.conftest import REPO, SMOKE_TASK, assert_no_trial_failed, run_cli

pytestmark = pytest.mark.slow  # the smoke sweep


def trials_of(sweep):
    return sorted(p.parent for p in sweep.glob("*/params.json"))


@pytest.fixture(scope="module")
def sweep(smoke_sweep, tmp_path_factory):
    """A copy of the shared smoke sweep, so that the files these commands write stay out of it."""
    copy = tmp_path_factory.mktemp("agents") / smoke_sweep.name
    shutil.copytree(smoke_sweep, copy)
    return copy


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---------------------------------------------------------------- the best evaluation's policy


def test_each_trial_keeps_the_policy_of_its_best_evaluation(sweep):
    """best_policy/ holds the evaluation with the highest return in progress.csv (not the last one), is
    complete by its manifest and holds no replay: the actor and the normalizer only."""
    for trial in trials_of(sweep):
        evals = pd.read_csv(trial / "progress.csv").dropna(subset=["eval_return"])
        best = evals.loc[evals["eval_return"].idxmax()]
        folder = trial / policy_file.FOLDER
        checkpoint.check(folder)
        spec = json.loads((folder / policy_file.SPEC).read_text())
        assert spec["eval_return"] == pytest.approx(best["eval_return"])
        assert spec["env_steps"] == best["env_steps"]
        assert spec["task"] == SMOKE_TASK and spec["svglab_version"] == checkpoint.svglab_version()
        assert sorted(p.name for p in folder.iterdir()) == sorted([policy_file.WEIGHTS, policy_file.SPEC,
                                                                   checkpoint.MANIFEST])
        from safetensors.torch import load_file

        names = load_file(str(folder / policy_file.WEIGHTS)).keys()
        assert names and all(n.startswith(("actor.", "normalizer.")) for n in names)


def test_a_sweep_folder_loads_the_best_schedules_best_trial(sweep):
    table = sweep_results.trial_table(sweep)
    group = sweep_results.best_group(sweep_results.schedule_groups(table))
    expected = table.loc[table["final_eval"].idxmax(), "trial"]  # one seed per schedule in the smoke sweep
    assert group["mean"] == table["final_eval"].max()
    agent = load(sweep)
    assert agent.source == sweep / expected / policy_file.FOLDER
    assert expected in agent.chosen and "best schedule" in agent.chosen
    latest = load(sweep / expected, latest=True)
    assert latest.source == sorted((sweep / expected).glob("checkpoint_*"))[-1]


# ---------------------------------------------------------------- evaluate and video


def test_evaluate_prints_each_episode_and_writes_evaluate_json(sweep, capsys):
    trial = trials_of(sweep)[0]
    assert evaluate.main([str(trial), "--episodes", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    result = json.loads((trial / "evaluate.json").read_text())
    assert result["checkpoint"] == str(trial / policy_file.FOLDER) and result["seed"] == 5
    assert len(result["returns"]) == 3 and [f"episode {i}: return" in out for i in (1, 2, 3)] == [True] * 3
    assert result["mean"] == pytest.approx(np.mean(result["returns"]))
    assert result["std"] == pytest.approx(np.std(result["returns"], ddof=1))
    # The deterministic policy and the seeds decide the episodes: a second run gives the same returns.
    assert evaluate.main([str(trial), "--episodes", "3", "--seed", "5"]) == 0
    assert json.loads((trial / "evaluate.json").read_text())["returns"] == result["returns"]


def test_video_has_one_frame_per_step_and_reset_at_its_size(sweep, tmp_path, capsys):
    """The frames of two episodes (rendered off-screen, read back from the MP4) are the episodes' steps as
    `make evaluate` counts them, plus one per reset. The trial whose episodes are shortest keeps it quick."""
    lengths = {}
    for trial in trials_of(sweep):
        assert evaluate.main([str(trial), "--episodes", "2", "--seed", "1"]) == 0
        lengths[trial] = json.loads((trial / "evaluate.json").read_text())["lengths"]
    trial = min(lengths, key=lambda t: sum(lengths[t]))
    out = tmp_path / "walk.mp4"
    assert video.main([str(trial), "--episodes", "2", "--seed", "1", "--size", "64", "--out", str(out)]) == 0
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape == (sum(lengths[trial]) + 2, 64, 64, 3)
    assert frames.std() > 0  # a rendered scene, not a blank buffer
    assert [p.name for p in tmp_path.iterdir()] == ["walk.mp4"]  # no partial file left


# ---------------------------------------------------------------- export


SNIPPET = """
import json, sys, torch
from safetensors.torch import load_file

w, spec = load_file(sys.argv[1] + "/policy.safetensors"), json.load(open(sys.argv[1] + "/policy.json"))

def act(obs):  # [..., obs_dim] -> the deterministic action tanh(mu(x)) in [-1, 1]^act_dim
    x = (obs - w["normalizer.loc"]) / w["normalizer.scale"]
    for i, layer in enumerate(spec["actor_layers"]):
        x = x @ w[layer + ".weight"].T + w[layer + ".bias"]
        x = torch.relu(x) if i < len(spec["actor_layers"]) - 1 else x
    return torch.tanh(x[..., :spec["act_dim"]])

obs = torch.load(sys.argv[2])
torch.save(act(obs), sys.argv[3])
assert not any(name.split(".")[0] in ("ray", "gymnasium", "agents", "algorithms") for name in sys.modules)
"""


def test_exported_policy_in_plain_torch_acts_as_the_rl_module(sweep, tmp_path):
    """docs/agents.md's lines, run in a process that imports neither Ray nor svglab, give the actions of the
    RLlib module restored from the same checkpoint, on the same observations."""
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from algorithms.sac_svg.rl_module import SACSVGModule
    from tasks import make_env

    trial = trials_of(sweep)[0]
    latest = sorted(trial.glob("checkpoint_*"))[-1]
    out = tmp_path / "policy"
    assert export.main([str(trial), "--latest", "--out", str(out)]) == 0

    params = json.loads((trial / "params.json").read_text())
    env = make_env(SMOKE_TASK)
    module = RLModuleSpec(module_class=SACSVGModule, observation_space=env.observation_space,
                          action_space=env.action_space, inference_only=True, model_config=params).build()
    module.set_state(checkpoint.load_plain_data(latest / MODULE_STATE))
    obs = torch.randn(64, env.observation_space.shape[0]) * 3
    expected = module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS]

    torch.save(obs, tmp_path / "obs.pt")
    script = tmp_path / "snippet.py"
    script.write_text(SNIPPET)
    subprocess.run([sys.executable, str(script), str(out), str(tmp_path / "obs.pt"), str(tmp_path / "act.pt")],
                   check=True, cwd=tmp_path, timeout=120)
    actions = torch.load(tmp_path / "act.pt")
    assert torch.allclose(actions, expected, atol=1e-6)
    assert not torch.allclose(expected, expected[:1])  # the observations matter: a real comparison
    assert json.loads((out / policy_file.SPEC).read_text())["source"] == str(latest)


def test_export_never_replaces_a_folder_that_is_not_an_export(sweep, tmp_path, capsys):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    assert export.main([str(trials_of(sweep)[0]), "--out", str(tmp_path)]) == 2
    assert "holds files that svglab did not write there (notes.txt)" in one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"] and keep.read_text() == "mine"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("command", [evaluate.main, video.main, export.main])
def test_a_missing_path_is_one_error_line(command, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert command([str(missing)]) == 2
    assert one_error_line(capsys) == f"error: {missing} does not exist"


def test_a_folder_that_is_not_a_checkpoint_is_one_error_line(tmp_path, capsys):
    (tmp_path / "something.txt").write_text("x")
    assert evaluate.main([str(tmp_path)]) == 2
    assert f"{tmp_path} is not a svglab checkpoint" in one_error_line(capsys)


def test_another_svglab_versions_checkpoint_is_refused(sweep, tmp_path, capsys):
    folder = tmp_path / "old"
    shutil.copytree(trials_of(sweep)[0] / policy_file.FOLDER, folder)
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    (folder / checkpoint.MANIFEST).write_text(json.dumps({**manifest, "svglab_version": "0.0.1"}))
    assert evaluate.main([str(folder)]) == 2
    assert one_error_line(capsys) == (f"error: {folder} was written by svglab 0.0.1, this is svglab "
                                      f"{checkpoint.svglab_version()}: load it with that version")


def test_an_incomplete_checkpoint_is_refused_with_the_file(sweep, tmp_path, capsys):
    trial = tmp_path / "trial"
    shutil.copytree(trials_of(sweep)[0], trial, ignore=shutil.ignore_patterns("wandb"))
    state = sorted(trial.glob("checkpoint_*"))[-1] / MODULE_STATE
    state.write_bytes(state.read_bytes()[:100])
    assert evaluate.main([str(trial), "--latest"]) == 2
    assert f"{state} is 100 bytes" in one_error_line(capsys)


def test_a_policy_file_corrupt_at_its_full_size_is_refused(sweep, tmp_path, capsys):
    folder = tmp_path / "policy"
    shutil.copytree(trials_of(sweep)[0] / policy_file.FOLDER, folder)
    weights = folder / policy_file.WEIGHTS
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])
    assert evaluate.main([str(folder)]) == 2
    assert one_error_line(capsys).endswith(f"{weights} has other bytes than were written (SHA-256 differs)")
    # The same bytes with a manifest that vouches for them: safetensors itself refuses the file.
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    manifest["files"][policy_file.WEIGHTS]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    assert evaluate.main([str(folder)]) == 2
    assert one_error_line(capsys).startswith(f"error: {folder}: cannot read its policy (SafetensorError")


def test_an_unknown_task_is_refused_as_in_make_sweep(sweep, capsys):
    assert evaluate.main([str(trials_of(sweep)[0]), "--task", "Walkr"]) == 2
    assert "TASK=Walkr: not a registry task" in one_error_line(capsys)
    assert evaluate.main([str(trials_of(sweep)[0]), "--task", "Walker2d"]) == 2
    assert "--task Walker2d has observations of 17" in one_error_line(capsys)


def test_make_evaluate_without_checkpoint_says_so_before_installing():
    process = subprocess.run(["make", "-s", "evaluate"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert process.stderr.splitlines()[0] == "error: give CHECKPOINT=<sweep, trial or checkpoint folder>"
    assert "pip" not in process.stdout + process.stderr


# ---------------------------------------------------------------- a trial's own evaluation video


def test_eval_video_records_the_last_evaluation_into_the_trial_folder_and_wandb(tmp_path):
    results = tmp_path / "results"
    process = run_cli("--task", SMOKE_TASK, "--budget", "smoke", "--results", str(results), "--no-dashboard",
                      "--set", "eval_video=true", "total_env_steps=750", module="sweeps.train")
    exp = results / f"{SMOKE_TASK}-train-smoke"
    assert process.returncode == 0, process.stderr[-3000:]
    assert_no_trial_failed(exp)
    (trial,) = trials_of(exp)
    frames = np.stack(list(iio.imiter(trial / eval_video.EVAL_VIDEO_FILE)))
    assert frames.shape[1:] == (eval_video.EVAL_VIDEO_SIZE, eval_video.EVAL_VIDEO_SIZE, 3) and len(frames) >= 2
    uploads = list(trial.glob("wandb/offline-run-*/files/media/videos/*.mp4"))
    assert len(uploads) == 1
