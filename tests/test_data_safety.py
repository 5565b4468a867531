"""Nothing svglab writes deletes a user's files or is left half written, nothing it saves or prints holds a
URI's credentials, and hostile sizes in a policy folder are refused before any memory is taken. Every case is
caused for real (a user's files in the export folder, a killed write, an edited policy.json), without Ray."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import types

import pytest
import torch

from agents import export
from agents.load import AgentInputError, Policy, load
from algorithms import atomic
from algorithms.sac_svg import checkpoint, policy_file
from sweeps.storage import Location, without_credentials
from tests.conftest import REPO, SMOKE_TASK

SIZES = {"hidden_dim": 8, "hidden_depth": 2, "log_std_min": -5.0, "log_std_max": 2.0, "normalize_obs": True,
         "obs_std_min": 1e-4, "obs_std_max": 1e4}


@pytest.fixture
def policy_folder(tmp_path):
    """A slim policy of the smoke task, written as a trial writes its best_policy/."""
    from tasks import get_task

    task = get_task(SMOKE_TASK)
    policy = Policy({"obs_dim": task.obs_dim, "act_dim": task.act_dim, **SIZES})
    tensors = {name: t.clone() for name, t in policy.state_dict().items()}
    folder = tmp_path / "trial" / policy_file.FOLDER
    folder.parent.mkdir()
    policy_file.write(folder, tensors, policy_file.make_spec(SMOKE_TASK, SIZES, tensors))
    return folder


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---------------------------------------------------------------- make export keeps the user's files


def test_export_refuses_a_folder_with_the_users_files_and_changes_nothing(policy_folder, tmp_path, capsys):
    """A folder holding an earlier export and a user's notes.txt and data/: refused, naming them, all kept."""
    out = tmp_path / "shared"
    assert export.main([str(policy_folder), "--out", str(out)]) == 0
    (out / "notes.txt").write_text("my notes")
    (out / "data").mkdir()
    (out / "data" / "run.csv").write_text("1,2\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert export.main([str(policy_folder), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "data" in line and "notes.txt" in line and "nothing was changed" in line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_export_refuses_a_folder_with_a_policy_json_svglab_did_not_write(policy_folder, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / policy_file.SPEC).write_text("{}")
    (out / "notes.txt").write_text("keep")
    assert export.main([str(policy_folder), "--out", str(out)]) == 2
    assert "policy.json" in one_error_line(capsys)
    assert (out / "notes.txt").read_text() == "keep" and (out / policy_file.SPEC).read_text() == "{}"


def test_export_replaces_an_earlier_export_that_holds_only_its_own_files(policy_folder, tmp_path):
    out = tmp_path / "export"
    assert export.main([str(policy_folder), "--out", str(out)]) == 0
    assert export.main([str(policy_folder), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([policy_file.SPEC, policy_file.WEIGHTS,
                                                           checkpoint.MANIFEST])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "trial"]  # no partial or previous left
    load(out)


# ---------------------------------------------------------------- policy.json's sizes against the tensors


@pytest.mark.parametrize("edit", [{"hidden_dim": 30_000}, {"hidden_depth": 10**9}, {"obs_dim": 2**40},
                                  {"hidden_dim": -1}, {"hidden_dim": "8"}, {"act_dim": 1.5}])
def test_edited_sizes_are_refused_before_any_network_is_built(policy_folder, edit, capsys, monkeypatch):
    """An edited policy.json: one error line naming the folder, and no parameter ever allocated (30,000
    hidden units would be 3.6 GB of float32)."""
    spec = json.loads((policy_folder / policy_file.SPEC).read_text()) | edit
    text = json.dumps(spec, indent=1) + "\n"
    manifest = json.loads((policy_folder / checkpoint.MANIFEST).read_text())
    manifest["files"][policy_file.SPEC] = {"size": len(text.encode()),  # the edit keeps the manifest consistent
                                           "sha256": hashlib.sha256(text.encode()).hexdigest()}
    (policy_folder / policy_file.SPEC).write_text(text)
    (policy_folder / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    allocated = []
    real_linear = torch.nn.Linear.__init__

    def linear(self, *args, **kwargs):
        device = kwargs.get("device") or torch.get_default_device()
        if torch.device(device).type != "meta":
            allocated.append(args)
            raise AssertionError(f"a network was built before the sizes were checked: Linear{args}")
        real_linear(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Linear, "__init__", linear)
    assert export.main([str(policy_folder), "--out", str(policy_folder.parent / "out")]) == 2
    line = one_error_line(capsys)
    assert str(policy_folder) in line and next(iter(edit)) in line
    assert allocated == []
    assert not (policy_folder.parent / "out").exists()


def test_sizes_that_fit_the_tensors_load(policy_folder):
    assert load(policy_folder).spec["hidden_dim"] == SIZES["hidden_dim"]
    with pytest.raises(AgentInputError):  # a tensor left out
        from agents.load import _checked_sizes

        tensors = policy_file.read(policy_folder)[0]
        _checked_sizes(policy_folder, policy_file.read(policy_folder)[1], {k: v for k, v in tensors.items()
                                                                          if k != "normalizer.loc"})


# ---------------------------------------------------------------- the one atomic write


def test_a_write_killed_midway_leaves_the_previous_file_whole(tmp_path):
    """A process killed while writing (SIGKILL, after half the new contents) leaves the old file as it was
    and no file of its own under the target's name."""
    target = tmp_path / "sweep.json"
    atomic.write_text(target, '{"old": true}\n')
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from algorithms import atomic
        with atomic.replacing(Path({str(target)!r})) as partial:
            partial.write_text('{{"new": ')
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    process = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True)
    assert process.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"old": True}


def test_atomic_write_fsyncs_the_file_then_renames_then_fsyncs_the_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(source, target):
        events.append(("rename", os.path.basename(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.write_text(tmp_path / "a.json", "{}")
    assert events == [("fsync", "file"), ("rename", "a.json"), ("fsync", "folder")]
    assert (tmp_path / "a.json").read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


def test_an_error_while_writing_leaves_the_previous_folder_and_no_partial(tmp_path):
    folder = tmp_path / "checkpoint_000001"
    folder.mkdir()
    (folder / "state.bin").write_bytes(b"old")
    with pytest.raises(OSError), atomic.replacing(folder) as partial:
        partial.mkdir()
        (partial / "state.bin").write_bytes(b"new")
        raise OSError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_000001"]
    assert (folder / "state.bin").read_bytes() == b"old"


# ---------------------------------------------------------------- credentials never saved or printed


@pytest.mark.parametrize("given, shown", [
    ("s3://AKIAKEY:SeCrEt@bucket/results", "s3://bucket/results"),
    ("s3://bucket/r?region=eu-west-1&access_key=AKIAKEY&secret_key=SeCrEt", "s3://bucket/r?region=eu-west-1"),
    ("gs://b/r?session_token=T", "gs://b/r"),
    ("--results s3://K:S@b/x --task Hopper", "--results s3://b/x --task Hopper"),
    ("/home/me/a@b/results", "/home/me/a@b/results"),
])
def test_uris_lose_their_credentials(given, shown):
    assert without_credentials(given) == shown


def test_a_location_prints_without_credentials_and_keeps_them_for_tune():
    location = Location.of("s3://AKIAKEY:SeCrEt@bucket/results?region=eu-west-1&endpoint_override=127.0.0.1:1")
    assert "SeCrEt" not in str(location) and "AKIAKEY" not in f"{location / 'Hopper-sweep-smoke'}"
    assert "SeCrEt" in location.full and str(location).startswith("s3://bucket/results?region=eu-west-1")


def test_the_lock_file_and_sweep_json_hold_no_credentials(monkeypatch):
    from sweeps import folder_lock, plan

    monkeypatch.setattr(sys, "argv", ["sweep.py", "--results", "s3://AKIAKEY:SeCrEt@bucket/r?secret_key=SeCrEt"])
    assert "SeCrEt" not in json.dumps(folder_lock.this_run())
    args = types.SimpleNamespace(mode="sweep", seed=None, from_sweep="s3://K:SeCrEt@b/s")
    task = types.SimpleNamespace(name="Hopper", suite="mbpo")
    budget = types.SimpleNamespace(name="smoke")
    manifest = plan._manifest(task, budget, args, {}, {}, [{"seed": 1}],
                              {"total_env_steps": 1, "eval_interval_steps": 1, "horizon": 2})
    assert "SeCrEt" not in json.dumps(manifest) and "s3://bucket/r" in manifest["command"]


# ---------------------------------------------------------------- sweep.json and the experiment-folder lock


def test_a_cut_off_sweep_json_is_one_line_naming_it_and_is_kept(tmp_path, capsys):
    """sweep.json cut off mid-write by an older svglab or a full disk: the rerun says which file, in one line,
    before Ray starts, and leaves it for the user."""
    from sweeps import cli

    exp = tmp_path / "results" / f"{SMOKE_TASK}-sweep-smoke"
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text('{"task": "Hopper", "mode": "sw')
    code = cli.main(["--task", SMOKE_TASK, "--budget", "smoke", "--results", str(tmp_path / "results")])
    assert code == 2
    line = one_error_line(capsys)
    assert f"{exp / 'sweep.json'} is corrupt" in line and "Nothing was written" in line
    assert (exp / "sweep.json").read_text() == '{"task": "Hopper", "mode": "sw'
    assert sorted(p.name for p in exp.iterdir()) == ["sweep.json"]  # the lock file went with the run


def test_make_ablation_takes_the_experiment_folder_lock(tmp_path, capsys):
    """A second `make ablation` into a folder a running one holds stops, naming it, and writes nothing."""
    from sweeps import ablation, cli, plan
    from sweeps.folder_lock import experiment_lock

    argv = ["--ablation", "critic-mve", "--task", SMOKE_TASK, "--budget", "smoke", "--results",
            str(tmp_path / "results")]
    exp_dir = plan.make_plan(cli.parse_args(argv, mode="ablation")).exp_dir
    with experiment_lock(exp_dir):
        assert ablation.main(argv) == 2
    line = one_error_line(capsys)
    assert f"{exp_dir} is in use by another run" in line and "Nothing was written" in line
    assert sorted(p.name for p in exp_dir.local.iterdir()) == []


# ---------------------------------------------------------------- the Ray token and the W&B key


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN", "RAY_AUTH_MODE", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_the_local_ray_token_is_readable_by_its_owner_only(home):
    from sweeps import ray_setup

    token = ray_setup.private_token(create=True)  # a local Ray's: made here, before Ray would make it 644
    assert token == home / ".ray" / "auth_token"
    assert token.stat().st_mode & 0o777 == 0o600 and token.parent.stat().st_mode & 0o777 == 0o700
    assert len(token.read_text()) == 64
    token.chmod(0o644)  # as Ray itself writes it
    text = token.read_text()
    assert ray_setup.private_token(create=False) == token
    assert token.stat().st_mode & 0o777 == 0o600 and token.read_text() == text


def test_no_token_is_made_to_join_a_cluster(home):
    from sweeps import ray_setup

    assert ray_setup.private_token(create=False) is None and not (home / ".ray").exists()


def test_the_dashboard_line_says_where_the_token_is_and_never_prints_it(home, monkeypatch, capsys):
    import ray

    from sweeps import ray_setup

    monkeypatch.setattr(ray, "init", lambda **_: types.SimpleNamespace(dashboard_url="127.0.0.1:8265"))
    ray_setup.init_ray(dashboard=True)
    out = capsys.readouterr().out
    token = home / ".ray" / "auth_token"
    assert f"Ray dashboard: http://127.0.0.1:8265 (it asks for the token in {token}" in out
    assert token.read_text() not in out
    from dashboards.report import Pointers  # `make dashboard` says it too

    line = Pointers("http://127.0.0.1:8265", "tensorboard --logdir results").lines()[0]
    assert f"in {token}" in line and token.read_text() not in line


def test_the_wandb_key_comes_from_its_own_secret_file(tmp_path, monkeypatch):
    from sweeps import wandb_logging

    key_file = tmp_path / "wandb_api_key"
    key_file.write_text("k" * 40 + "\n")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY_FILE", str(key_file))
    assert wandb_logging.wandb_logged_in() and wandb_logging.wandb_mode() == "online"
    assert wandb_logging.wandb_callbacks("g")[0].api_key_path == str(key_file)


@pytest.mark.parametrize("seed", ["-1", "99999999999"])
def test_an_agent_seed_outside_numpys_range_is_one_line(policy_folder, seed, capsys):
    from agents import evaluate

    assert evaluate.main([str(policy_folder), "--seed", seed]) == 2
    assert f"--seed {seed}: give a seed from 0 to 2,147,483,638" in one_error_line(capsys)  # 10 episodes
    assert not (policy_folder / "evaluate.json").exists() and not list(policy_folder.parent.glob("*.json"))
