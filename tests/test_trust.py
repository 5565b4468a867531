"""What a resume trusts (sweeps/signing.py) and what a checkpoint check refuses (algorithms/sac_svg/checkpoint.py),
each shown with a real payload: a pickle that creates a marker file when unpickled. The marker must never appear,
and the refusal names the file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from algorithms.sac_svg import checkpoint
from algorithms.sac_svg.checkpoint import CheckpointError
from sweeps import cli, signing
from sweeps import plan as plans
from sweeps.storage import Location
from sweeps.tuner import check_resume

STATE = "learner_group/learner/state.pkl"
PLAIN_STATE = pickle.dumps({"replay": {"buffer": None, "env_steps": 250}, "weights": np.arange(4.0)})


class WritesMarker:
    """Unpickling it creates `marker` (open(marker, "w")): proof that code from the folder ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def write_checkpoint(folder: Path, files: dict[str, bytes], sign: bool = True) -> Path:
    """A checkpoint as svglab writes one: the files, a manifest with their sizes and SHA-256, the driver's
    signature of the manifest."""
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    listed = {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    (folder / checkpoint.MANIFEST).write_text(json.dumps({"files": listed}))
    if sign:
        signing.sign_checkpoint(Location.of(folder))
    return folder


def within(seconds: float, call, *args):
    """call(*args) in a thread; its exception, or a failure if it is still running after `seconds` (a hang)."""
    outcome = {}

    def target():
        try:
            call(*args)
        except Exception as error:  # handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call.__name__} still running after {seconds} s"
    return outcome.get("error")


# ---------------------------------------------------------------- the key


def test_the_key_is_created_private_and_refused_when_others_can_read_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = signing.signing_key()
    path = signing.key_path()
    assert len(key) == 32 and signing.signing_key() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    with pytest.raises(signing.KeyFileError, match=f"{path} is not a file of yours that only you"):
        signing.signing_key()


# ---------------------------------------------------------------- Tune's state on resume


def smoke_argv(results: Path, *extra: str) -> list[str]:
    return ["--task", "Hopper", "--budget", "smoke", "--results", str(results), "--no-dashboard", *extra]


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_resume_refuses_an_unsigned_tuner_pkl_before_unpickling_it(tmp_path, capsys, uri):
    results = tmp_path / "results"
    argv = smoke_argv(results.as_uri() if uri else results)
    exp = results / "Hopper-sweep-smoke"
    exp.mkdir(parents=True)
    marker = tmp_path / "marker"
    (exp / "tuner.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert f"{exp / signing.SIGNATURE} does not exist" in error and "--trust-folder" in error
    assert not marker.exists()


def test_resume_refuses_tune_state_signed_with_another_key_or_changed_since(tmp_path, monkeypatch):
    plan = plans.make_plan(cli.parse_args(smoke_argv(tmp_path / "results")))
    exp = plan.exp_dir.local
    exp.mkdir(parents=True)
    marker = tmp_path / "marker"
    (exp / "tuner.pkl").write_bytes(pickle.dumps({"plain": 1}))
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")

    def sign_all() -> None:
        names = signing.tune_state_files(Location.of(exp))
        (exp / signing.SIGNATURE).write_text(signing.signature_text(
            {name: signing.sha256((exp / name).read_bytes()) for name in names}))

    sign_all()
    check_resume(plan)  # signed by this user: verifies
    newer = exp / "experiment_state-2026-02-01_00-00-00.json"  # Tune loads the newest
    newer.write_text(json.dumps({"trial_data": pickle.dumps(WritesMarker(marker)).hex()}))
    with pytest.raises(plans.SweepInputError, match=f"{newer} is not the file your svglab signed"):
        check_resume(plan)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))
    sign_all()  # a valid signature, under another user's key
    monkeypatch.undo()
    with pytest.raises(plans.SweepInputError, match=f"{exp / signing.SIGNATURE} does not verify with your key"):
        check_resume(plan)
    check_resume(plan, trust_folder=True)  # the user's explicit word: nothing is unpickled by the check itself
    assert not marker.exists()


# ---------------------------------------------------------------- a checkpoint


def test_a_code_running_state_file_is_refused_by_name(tmp_path):
    marker = tmp_path / "marker"
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: pickle.dumps({"replay": WritesMarker(marker)})})
    with pytest.raises(CheckpointError, match=rf"{folder / STATE} is corrupt or unsafe .*refusing to load "
                                              r"io\.open"):
        checkpoint.check(folder)
    assert not marker.exists()


def test_an_unlisted_file_is_refused_unread_tunes_dict_checkpoint_included(tmp_path):
    marker = tmp_path / "marker"
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: PLAIN_STATE})
    (folder / "_dict_checkpoint.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(CheckpointError, match=f"{folder / '_dict_checkpoint.pkl'} is not in its "
                                              f"{checkpoint.MANIFEST}: refused"):
        checkpoint.check(folder)
    (folder / "_dict_checkpoint.pkl").unlink()
    (folder / "learner_group" / "state.msgpack").write_bytes(b"\x81\xa1a\x01")  # RLlib prefers it over .pkl
    with pytest.raises(CheckpointError, match=f"{folder / 'learner_group/state.msgpack'} is not in its"):
        checkpoint.check(folder)
    assert not marker.exists()


def test_a_listed_msgpack_state_is_checked_like_the_rest(tmp_path):
    folder = write_checkpoint(tmp_path / "ok", {"state.msgpack": b"\x81\xa1a\x01", STATE: PLAIN_STATE})
    checkpoint.check(folder)
    broken = write_checkpoint(tmp_path / "broken", {"state.msgpack": b"\xc1 not msgpack", STATE: PLAIN_STATE})
    with pytest.raises(CheckpointError, match=f"{broken / 'state.msgpack'} is corrupt or unsafe"):
        checkpoint.check(broken)
    objects = write_checkpoint(tmp_path / "objects", {"state.msgpack": b"\x83\xa2nd\xc3\xa4kind\xa1O\xa4data\xa0"})
    with pytest.raises(CheckpointError, match=f"{objects / 'state.msgpack'} is corrupt or unsafe .*object array"):
        checkpoint.check(objects)


def test_a_symlinked_learner_group_is_refused_and_its_pickle_never_read(tmp_path):
    marker = tmp_path / "marker"
    elsewhere = tmp_path / "elsewhere" / "learner"
    elsewhere.mkdir(parents=True)
    (elsewhere / "state.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
    folder = write_checkpoint(tmp_path / "ckpt", {"rllib_checkpoint.json": b"{}"})
    (folder / "learner_group").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(CheckpointError, match=f"{folder / 'learner_group'} is a symlink: refused"):
        checkpoint.check(folder)
    assert not marker.exists()


def test_a_fifo_named_pkl_is_refused_without_waiting_for_a_writer(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: PLAIN_STATE})
    (folder / STATE).unlink()
    os.mkfifo(folder / STATE)
    error = within(10, checkpoint.check, folder)
    assert isinstance(error, CheckpointError) and f"{folder / STATE} is not a regular file (a FIFO" in str(error)
    error = within(10, checkpoint.load_plain_data, folder / STATE)  # the model ablation's and agents' reads
    assert isinstance(error, CheckpointError) and "not a regular file: refused" in str(error)


def test_a_symlink_to_dev_zero_is_refused_unread(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: PLAIN_STATE})
    (folder / STATE).unlink()
    (folder / STATE).symlink_to("/dev/zero")
    error = within(10, checkpoint.check, folder)
    assert isinstance(error, CheckpointError) and f"{folder / STATE} is a symlink: refused" in str(error)
    error = within(10, checkpoint.load_plain_data, folder / STATE)
    assert isinstance(error, CheckpointError) and f"{folder / STATE} is refused" in str(error)


class ObjectArray:
    """An object array over raw bytes (each 8 bytes read as a pointer): a crash or worse when built."""

    def __reduce__(self):
        return np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (4,), np.dtype(object), False,
                                                                             b"\x41" * 32)


class HugeArray:
    """A tiny file asking for an array of 8 TB."""

    def __reduce__(self):
        return np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (10**12,), np.dtype("f8"), False,
                                                                             b"")


@pytest.mark.parametrize("crafted, refusal", [(ObjectArray(), r"dtype dtype\('O'\): plain arrays hold numbers"),
                                              (HugeArray(), r"shape \(1000000000000,\) .* does not match its 0 "
                                                            "bytes")])
def test_object_arrays_and_arrays_bigger_than_their_bytes_are_refused(tmp_path, crafted, refusal):
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: pickle.dumps({"replay": crafted})})
    with pytest.raises(CheckpointError, match=rf"{folder / STATE} is corrupt or unsafe .*{refusal}"):
        checkpoint.check(folder)


def test_model_ablation_refuses_an_object_array_source_trial(tmp_path):
    from sweeps.replay_episodes import NotATrialError, check_source_trial

    trial = tmp_path / "trial"
    write_checkpoint(trial / "checkpoint_000001", {STATE: pickle.dumps({"replay": ObjectArray()})})
    (trial / "params.json").write_text(json.dumps({"env": "svglab/Walker2d"}))
    with pytest.raises(NotATrialError, match=r"state\.pkl is corrupt or unsafe .*dtype\('O'\)"):
        check_source_trial(str(trial), "Walker2d")


def test_a_half_copied_file_of_the_right_size_fails_by_its_hash(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: PLAIN_STATE})
    state = folder / STATE
    state.write_bytes(PLAIN_STATE[: len(PLAIN_STATE) // 2] + bytes(len(PLAIN_STATE) - len(PLAIN_STATE) // 2))
    with pytest.raises(CheckpointError, match=f"{state} has other bytes than were written"):
        checkpoint.check(folder)


def test_a_restore_reads_the_bytes_that_were_checked(tmp_path):
    """The private copy RLlib restores from is made from the checked bytes: a file replaced after the check
    (time of check to time of use) is not what is read, and RLlib's constructor file is not copied."""
    marker = tmp_path / "marker"
    folder = write_checkpoint(tmp_path / "ckpt", {STATE: PLAIN_STATE, "class_and_ctor_args.pkl": b"ctor"})
    with checkpoint.checked_copy(folder) as private:
        (folder / STATE).write_bytes(pickle.dumps(WritesMarker(marker)))
        assert (private / STATE).read_bytes() == PLAIN_STATE
        assert not (private / "class_and_ctor_args.pkl").exists()
        assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert not private.exists() and not marker.exists()


# ---------------------------------------------------------------- checkpoints on resume


def test_resume_skips_an_unsigned_checkpoint_refuses_a_forged_one_and_trust_folder_signs(tmp_path, monkeypatch,
                                                                                          capsys):
    """An unsigned checkpoint is one Tune's signed state never names (the driver signs a checkpoint as it records
    it): a resume does not load it, and says so. One signed under another key is refused by name."""
    plan = plans.make_plan(cli.parse_args(smoke_argv(tmp_path / "results")))
    trial = plan.exp_dir.local / "trial_unfinished"
    (trial / "params.json").parent.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"horizon": 2, "seed": 1}))
    (trial / "progress.csv").write_text("env_steps,eval_return\n250,\n")
    marker = tmp_path / "marker"
    unsigned = write_checkpoint(trial / "checkpoint_000002", {STATE: pickle.dumps(WritesMarker(marker))},
                                sign=False)
    check_resume(plan)
    assert f"note: {unsigned} was not signed" in capsys.readouterr().out
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))
    forged = write_checkpoint(trial / "checkpoint_000001", {STATE: PLAIN_STATE})
    monkeypatch.undo()
    with pytest.raises(plans.SweepInputError, match=f"{forged / signing.SIGNATURE} does not verify with your key"):
        check_resume(plan)
    with pytest.raises(plans.SweepInputError, match=rf"cannot resume trial trial_unfinished: .*{unsigned / STATE} "
                                                    "is corrupt or unsafe"):
        check_resume(plan, trust_folder=True)  # trusted: signatures aside, the latest is still checked in full
    (unsigned / STATE).write_bytes(PLAIN_STATE)
    write_checkpoint(unsigned, {STATE: PLAIN_STATE}, sign=False)
    check_resume(plan, trust_folder=True)  # checked, then signed with this user's key
    check_resume(plan)
    assert "not signed" not in capsys.readouterr().out and not marker.exists()


# ---------------------------------------------------------------- Tune's restore of a trial


def test_tunes_restore_reads_the_checked_copy_never_a_dict_checkpoint(local_ray, tmp_path):
    """`Trainable.restore` (a trial's resume or retry) unpickles a `_dict_checkpoint.pkl` it finds, before
    RLlib's restore runs: SACSVG restores from the checked private copy instead, so one planted in the
    checkpoint is refused by name and never loaded; a checkpoint svglab wrote restores exactly."""
    from tests.test_sac_svg_algorithm import actions_of, small_config

    config = small_config(report_interval_steps=300, num_random_steps=100)
    algo = config.build_algo()
    algo.train()
    saved = Path(algo.save_to_path(tmp_path / "ckpt"))
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    expected = actions_of(algo, obs)
    algo.stop()
    restored = config.build_algo()
    try:
        restored.restore(str(saved))  # Tune's entry point, as a trial's restore calls it
        np.testing.assert_array_equal(actions_of(restored, obs), expected)
        marker = tmp_path / "marker"
        (saved / "_dict_checkpoint.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
        with pytest.raises(CheckpointError, match=f"{saved / '_dict_checkpoint.pkl'} is not in its"):
            restored.restore(str(saved))
        assert not marker.exists()
    finally:
        restored.stop()
