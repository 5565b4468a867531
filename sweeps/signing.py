"""What a resume trusts: the files this user's sweep driver signed.

A results folder may be shared (a lab bucket, a cluster disk, a colleague's copy). Tune's own state in it
(`tuner.pkl`, `experiment_state-*.json`, `basic-variant-state-*.json`, `callback-states-*.pkl`) is pickled
objects, which run code when loaded; a checkpoint is plain data behind a manifest of SHA-256 digests
(algorithms/sac_svg/checkpoint.py). The driver signs both as it writes them: an HMAC-SHA256, under a key
kept in this user's config folder, of the SHA-256 of each Tune state file and of each checkpoint's
manifest, in `svglab_signature.json` beside them. A resume verifies those signatures before anything is
unpickled and refuses a folder whose files do not verify, naming the file, unless the user passes
`--trust-folder` (sweeps/tuner.py). The key never leaves the driver's machine: it is not in a signature,
in Tune's state or in what Ray ships to the trials.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

import pyarrow.fs as pafs
from ray.rllib.utils.annotations import override
from ray.tune import Callback

from algorithms.sac_svg import checkpoint
from sweeps.storage import Location

SIGNATURE = checkpoint.SIGNATURE  # one name for both: a checkpoint's and an experiment's
KEY_FILE = "signing.key"
TUNER_FILE = "tuner.pkl"
# The Tune state files a restore unpickles: of each pattern the newest name (Tune's choice: max(name)).
TUNE_STATE_PATTERNS = ("experiment_state-*.json", "basic-variant-state-*.json", "callback-states-*.pkl")


class UntrustedFolderError(RuntimeError):
    """A file a resume would load that this user's driver did not sign (or that changed since)."""


class KeyFileError(RuntimeError):
    """A signing key that others could read or replace."""


# ---------------------------------------------------------------- the key


def key_path() -> Path:
    """$XDG_CONFIG_HOME/svglab/signing.key (default ~/.config/svglab/signing.key)."""
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "svglab" / KEY_FILE


def signing_key() -> bytes:
    """This user's key: 32 random bytes, created on first use in a folder of mode 700 as a file of mode 600;
    refused when another user could read or replace it."""
    path = key_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _create_key(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        folder = path.parent.stat()
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077
                or folder.st_uid != os.getuid() or folder.st_mode & 0o022):
            raise KeyFileError(f"signing key {path} is not a file of yours that only you can read "
                                       f"(chmod 600 {path}; chmod 700 {path.parent})")
        return os.read(fd, 64)
    finally:
        os.close(fd)


def _create_key(path: Path) -> None:
    """Written in full under a temporary name, then linked into place: two drivers starting at once agree."""
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


# ---------------------------------------------------------------- signatures


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mac(digests: dict[str, str]) -> str:
    return hmac.new(signing_key(), json.dumps(digests, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def signature_text(digests: dict[str, str]) -> str:
    """A signature of the files named in `digests` (name -> SHA-256)."""
    return json.dumps({"files": digests, "hmac_sha256": _mac(digests)}, indent=1)


def verified_digests(signature: Location) -> dict[str, str]:
    """The file digests a signature file vouches for; UntrustedFolderError naming it if it does not verify."""
    if not signature.exists():
        raise UntrustedFolderError(f"{signature} does not exist: these files were not signed by your svglab "
                                   "(written by someone else, by an older svglab, or the run stopped before "
                                   "signing them)")
    try:
        content = json.loads(read_regular(signature))
        digests, mac = content["files"], content["hmac_sha256"]
        valid = isinstance(digests, dict) and isinstance(mac, str) and hmac.compare_digest(_mac(digests), mac)
    except (ValueError, KeyError, TypeError, checkpoint.CheckpointError) as error:
        raise UntrustedFolderError(f"{signature} is not a signature ({type(error).__name__}: {error})") from None
    if not valid:
        raise UntrustedFolderError(f"{signature} does not verify with your key: written by someone else, or "
                                   "changed since")
    return digests


def verify_files(folder: Location, names: list[str]) -> None:
    """Each of `names` in `folder` has the digest that the folder's signature gives it."""
    if not names:
        return
    digests = verified_digests(folder / SIGNATURE)
    for name in names:
        try:
            same = digests.get(name) == sha256(read_regular(folder / name))
        except checkpoint.CheckpointError as error:
            raise UntrustedFolderError(str(error)) from None
        if not same:
            raise UntrustedFolderError(f"{folder / name} is not the file your svglab signed: written by someone "
                                       "else, or changed since")


def read_regular(file: Location) -> bytes:
    """A file's bytes; on a local disk (a path or file://) only a regular file, never through a symlink,
    never a FIFO or device."""
    if isinstance(file.fs, pafs.LocalFileSystem):
        return checkpoint.read_regular(Path(file.path))
    return file.read_bytes()


# ---------------------------------------------------------------- what a resume loads


def tune_state_files(experiment: Location) -> list[str]:
    """The Tune state files that `Tuner.restore` of `experiment` unpickles."""
    names = [child.name for child in experiment.children()]
    newest = [max(matching) for pattern in TUNE_STATE_PATTERNS if (matching := fnmatch.filter(names, pattern))]
    return ([TUNER_FILE] if TUNER_FILE in names else []) + newest


def verify_tune_state(experiment: Location) -> None:
    verify_files(experiment, tune_state_files(experiment))


def verify_checkpoint(folder: Location) -> None:
    """The checkpoint's manifest is the one the driver signed (the manifest's digests cover its files)."""
    verify_files(folder, [checkpoint.MANIFEST])


def checkpoint_signed(folder: Location) -> bool:
    """Whether the driver signed the checkpoint (False when it has no signature); UntrustedFolderError when its
    signature or manifest does not verify."""
    if not (folder / SIGNATURE).exists():
        return False
    verify_checkpoint(folder)
    return True


def sign_checkpoint(folder: Location) -> None:
    manifest = read_regular(folder / checkpoint.MANIFEST)
    (folder / SIGNATURE).write_text(signature_text({checkpoint.MANIFEST: sha256(manifest)}))


# ---------------------------------------------------------------- signing as Tune writes


class SignedState(Callback):
    """Signs each checkpoint when Tune reports it saved, and Tune's experiment state each time Tune writes it.

    Tune writes its state into the driver's staging folder (trial states, then the search algorithm's, then
    asks the callbacks for theirs: `get_state`, here) and then uploads that folder: the signature written
    here goes up with the state it signs."""

    def __init__(self):
        self._storage = None  # Tune's StorageContext, from the trials; never pickled into tuner.pkl
        self._tuner_digest = None

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    @override(Callback)
    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        if trials and self._storage is None:
            self._storage = trials[0].storage

    @override(Callback)
    def on_checkpoint(self, iteration: int, trials: list, trial, checkpoint, **info) -> None:
        sign_checkpoint(_location(checkpoint.filesystem, checkpoint.path))

    @override(Callback)
    def get_state(self) -> None:
        """Tune's hook for a callback's own state, called after Tune wrote the rest of its state: signs it
        (tuner.pkl's digest is taken once, at the first save)."""
        if self._storage is None:
            return None
        staging = Location.of(self._storage.experiment_driver_staging_path)
        if self._tuner_digest is None:
            tuner = _location(self._storage.storage_filesystem, f"{self._storage.experiment_fs_path}/{TUNER_FILE}")
            self._tuner_digest = sha256(read_regular(tuner))
        names = [name for name in tune_state_files(staging) if name != TUNER_FILE]
        digests = {TUNER_FILE: self._tuner_digest} | {name: sha256(read_regular(staging / name)) for name in names}
        temporary = Path(staging.path) / f".{SIGNATURE}.partial"
        temporary.write_text(signature_text(digests))
        temporary.replace(Path(staging.path) / SIGNATURE)
        return None


def _location(filesystem: pafs.FileSystem, path: str) -> Location:
    return Location(uri=path, fs=filesystem, path=path)
