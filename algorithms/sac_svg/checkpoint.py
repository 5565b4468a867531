"""Checkpoints that a fault cannot make load wrongly.

- Atomic: a checkpoint is written into a sibling `.partial` folder and renamed into place when complete,
  so a process killed while saving leaves the previous checkpoint as it was.
- Complete: `svglab_checkpoint.json`, written last, lists every file with its size; a checkpoint copied
  only in part (Tune copies each saved checkpoint into the trial folder) fails to load with the file named.
- Matching: the same manifest records the svglab version, the task and the sizes that shape the state; a
  checkpoint of another task, size or version fails with what differs.
- Safe: the state files a restore reads are unpickled only if they hold plain data (numpy arrays, numbers,
  containers): nothing in them can run code. RLlib's `class_and_ctor_args.pkl` is read only by
  `Algorithm.from_checkpoint`, never by a restore into a configured algorithm.
"""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import algorithms
from algorithms import atomic
from algorithms.sac_svg.config import SHAPE_FIELDS as LEARNER_SHAPE_FIELDS

MANIFEST = "svglab_checkpoint.json"
CONSTRUCTOR_FILE = "class_and_ctor_args.pkl"  # RLlib's; restore_from_path does not read it
# The config fields whose values shape a checkpoint's state: another value cannot be restored.
SHAPE_FIELDS = ("env", *LEARNER_SHAPE_FIELDS)  # the task fixes the observation and action sizes
# The globals a state file may reference: numpy arrays and scalars, and ordered dicts.
PLAIN_DATA = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.numeric", "_frombuffer"),
              ("numpy._core.multiarray", "scalar"), ("numpy._core.multiarray", "_reconstruct"),
              ("collections", "OrderedDict")}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be restored into this algorithm."""


def svglab_version() -> str:
    """The code's own version (algorithms/__init__.py, which pyproject.toml reads too): Ray ships the packages,
    not pyproject.toml, to a cluster's nodes."""
    return algorithms.__version__


def identity(config) -> dict:
    """What a checkpoint must share with the algorithm that restores it."""
    return {"svglab_version": svglab_version(), **{name: getattr(config, name, None) for name in SHAPE_FIELDS}}


def write_atomically(path: Path, save, config, env_steps: int) -> None:
    """`save(folder)` into a `.partial` sibling of `path`, add the manifest, then move it to `path`."""
    with atomic.replacing(Path(path)) as partial:
        save(partial)
        files = {str(f.relative_to(partial)): f.stat().st_size for f in sorted(partial.rglob("*")) if f.is_file()}
        (partial / MANIFEST).write_text(json.dumps({**identity(config), "env_steps": env_steps, "files": files},
                                                   indent=1))


def check(path: Path, config=None) -> None:
    """Raise CheckpointError naming the problem if checkpoint `path` is incomplete, unsafe, or (given the
    restoring algorithm's `config`) of another task, size or svglab version."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist")
    manifest = read_manifest(path)
    for name, size in manifest["files"].items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            found = f"{file.stat().st_size} bytes" if file.is_file() else "missing"
            raise CheckpointError(f"checkpoint {path} is incomplete (interrupted save or copy?): {file} is "
                                  f"{found}, {size} bytes were written")
    for state_file in sorted(path.rglob("*.pkl")):
        if state_file.name != CONSTRUCTOR_FILE:
            check_plain_data(state_file)
    if config is not None:
        expected = identity(config)
        differs = [f"{key}: checkpoint {manifest.get(key)!r}, this run {value!r}"
                   for key, value in expected.items() if manifest.get(key) != value]
        if differs:
            raise CheckpointError(f"checkpoint {path} was written by another run: " + "; ".join(differs))


def read_manifest(path: Path) -> dict:
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no 'files' entry")
        return manifest
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST}: its save was interrupted, or it was not "
                              "written by svglab") from None
    except ValueError as error:
        raise CheckpointError(f"checkpoint file {file} is corrupt ({error})") from None


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in PLAIN_DATA:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: state files hold plain data only")
        return super().find_class(module, name)


def check_plain_data(state_file: Path) -> None:
    """Unpickle `state_file` allowing only plain data; CheckpointError naming the file otherwise."""
    load_plain_data(state_file)


def load_plain_data(state_file: Path):
    """The contents of `state_file`, unpickled allowing only plain data; CheckpointError naming the file
    otherwise."""
    try:
        return _PlainDataUnpickler(io.BytesIO(state_file.read_bytes())).load()
    except Exception as error:
        raise CheckpointError(f"checkpoint file {state_file} is corrupt or unsafe "
                              f"({type(error).__name__}: {error})") from None
