"""Checkpoints that a fault cannot make load wrongly.

- Atomic: a checkpoint is written into a sibling `.partial` folder and renamed into place when complete,
  so a process killed while saving leaves the previous checkpoint as it was.
- Complete: `svglab_checkpoint.json`, written last, lists every file with its size and SHA-256; a checkpoint
  copied only in part (Tune copies each saved checkpoint into the trial folder), or a file of the right size
  with other bytes, fails to load with the file named.
- Closed: the folder holds only regular files and folders, and only the files its manifest lists (plus the
  manifest and the sweep driver's signature, sweeps/signing.py). A symlink, FIFO or device is refused
  without being opened; every file is opened relative to its checked parent folder, never through a link.
- Matching: the same manifest records the svglab version, the task and the sizes that shape the state; a
  checkpoint of another task, size or version fails with what differs.
- Safe: the state files a restore reads are unpickled only if they hold plain data (numbers, strings,
  containers, numpy arrays of numbers whose bytes are in the file): nothing in them can run code, and no array
  can be bigger than the file. A restore hands RLlib a private copy made while checking (`checked_copy`), so
  what RLlib reads is what was checked. RLlib's `class_and_ctor_args.pkl` is read only by
  `Algorithm.from_checkpoint`, never by a restore into a configured algorithm: the copy leaves it out.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import algorithms
from algorithms import atomic
from algorithms.sac_svg.config import SHAPE_FIELDS as LEARNER_SHAPE_FIELDS

MANIFEST = "svglab_checkpoint.json"
SIGNATURE = "svglab_signature.json"  # the sweep driver's signature of the manifest (sweeps/signing.py)
CONSTRUCTOR_FILE = "class_and_ctor_args.pkl"  # RLlib's; restore_from_path does not read it
TUNE_DICT_FILE = "_dict_checkpoint.pkl"  # Tune unpickles it unchecked on restore: never part of a checkpoint
MSGPACK_STATE = ".msgpack"  # RLlib's other state format, read in preference to state.pkl
MANIFEST_LIMIT = 1 << 24
# The config fields whose values shape a checkpoint's state: another value cannot be restored.
SHAPE_FIELDS = ("env", *LEARNER_SHAPE_FIELDS)  # the task fixes the observation and action sizes
# The numpy dtype kinds a state file's arrays may have: numbers and text, never objects or void (fields).
PLAIN_KINDS = set("biufcSU")


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
        files = {str(f.relative_to(partial)): {"size": f.stat().st_size, "sha256": _file_sha256(f)}
                 for f in sorted(partial.rglob("*")) if f.is_file()}
        (partial / MANIFEST).write_text(json.dumps({**identity(config), "env_steps": env_steps, "files": files},
                                                   indent=1))


def _file_sha256(file: Path) -> str:
    with file.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def check(path: Path, config=None) -> None:
    """Raise CheckpointError naming the problem if checkpoint `path` is incomplete, unsafe, or (given the
    restoring algorithm's `config`) of another task, size or svglab version."""
    _check(Path(path), config)


@contextlib.contextmanager
def checked_copy(path: Path, config=None) -> Iterator[Path]:
    """A private copy (a new folder only this user can read) of checkpoint `path`, made from the bytes that
    `check` found complete, safe and matching: the folder RLlib restores from, so that nothing changed in
    `path` after the check is read. RLlib's constructor file is left out: a restore does not read it."""
    with tempfile.TemporaryDirectory(prefix="svglab-restore-") as private:
        copy = Path(private) / Path(path).name
        copy.mkdir()
        _check(Path(path), config, copy_to=copy)
        yield copy


def _check(path: Path, config, copy_to: Path | None = None) -> None:
    with _open_folder(path) as folder:
        manifest = _read_manifest(folder, path)
        listed = manifest["files"]
        _check_listing(folder, path, listed)
        for name, entry in listed.items():
            data = _read_listed(folder, path, name, entry)
            if name.endswith(".pkl") and Path(name).name != CONSTRUCTOR_FILE:
                _plain_load(data, path / name)
            elif name.endswith(MSGPACK_STATE):
                _check_msgpack(data, path / name)
            if copy_to is not None and Path(name).name != CONSTRUCTOR_FILE:
                (copy_to / name).parent.mkdir(parents=True, exist_ok=True)
                (copy_to / name).write_bytes(data)
    if config is not None:
        expected = identity(config)
        differs = [f"{key}: checkpoint {manifest.get(key)!r}, this run {value!r}"
                   for key, value in expected.items() if manifest.get(key) != value]
        if differs:
            raise CheckpointError(f"checkpoint {path} was written by another run: " + "; ".join(differs))
    if copy_to is not None:
        (copy_to / MANIFEST).write_text(json.dumps(manifest))


def read_manifest(path: Path) -> dict:
    with _open_folder(Path(path)) as folder:
        return _read_manifest(folder, Path(path))


def _read_manifest(folder: int, path: Path) -> dict:
    file = path / MANIFEST
    try:
        text, size = _read_file(folder, MANIFEST, path, limit=MANIFEST_LIMIT)
        if size > MANIFEST_LIMIT:
            raise ValueError(f"{size} bytes, more than a manifest's {MANIFEST_LIMIT}")
        manifest = json.loads(text)
        files = manifest.get("files")
        if not isinstance(files, dict) or not all(_is_entry(name, entry) for name, entry in files.items()):
            raise ValueError("its 'files' entry is not a list of relative file names with size and sha256")
        return manifest
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST}: its save was interrupted, or it was not "
                              "written by svglab") from None
    except ValueError as error:
        raise CheckpointError(f"checkpoint file {file} is corrupt ({error})") from None


def _is_entry(name, entry) -> bool:
    """A manifest line: a relative name that stays inside the folder and is not one of the files the
    checkpoint's own bookkeeping or Tune's unchecked restore path uses, with an int size and a hex SHA-256."""
    parts = Path(name).parts if isinstance(name, str) else ()
    return (bool(parts) and not Path(name).is_absolute() and not {"..", "."} & set(parts) and "\x00" not in name
            and name not in (MANIFEST, SIGNATURE, TUNE_DICT_FILE) and isinstance(entry, dict)
            and isinstance(entry.get("size"), int) and entry["size"] >= 0
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64)


# ---------------------------------------------------------------- reading without following links


@contextlib.contextmanager
def _open_folder(path: Path) -> Iterator[int]:
    """A file descriptor of checkpoint folder `path`, which must be a folder itself, not a link to one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint folder {path} does not exist") from None
    except OSError as error:
        raise CheckpointError(f"checkpoint folder {path} is not a folder (a symlink or a file?): "
                              f"{error.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _open_relative(folder: int, name: str, path: Path, flags: int) -> int:
    """`name` (a/b/c) opened under the folder descriptor, component by component, refusing any symlink on the
    way; the final component opened with `flags` and O_NONBLOCK, so a FIFO does not wait for a writer."""
    *dirs, last = Path(name).parts
    fds = []
    try:
        parent = folder
        for part in dirs:
            parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            fds.append(parent)
        return os.open(last, flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise CheckpointError(f"checkpoint file {path / name} is refused: {error.strerror} (a symlink, or "
                              "not a folder where one is expected)") from None
    finally:
        for fd in fds:
            os.close(fd)


def _read_file(folder: int, name: str, path: Path, limit: int) -> tuple[bytes, int]:
    """(at most `limit` + 1 bytes of regular file `name`, its size); CheckpointError for anything else."""
    fd = _open_relative(folder, name, path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"checkpoint file {path / name} is not a regular file: refused")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(min(info.st_size, limit) + 1), info.st_size
    finally:
        os.close(fd)


def _read_listed(folder: int, path: Path, name: str, entry: dict) -> bytes:
    """A listed file's bytes, which must have the manifest's size and SHA-256."""
    try:
        data, size = _read_file(folder, name, path, limit=entry["size"])
    except FileNotFoundError:
        data, size = None, None
    if data is None or len(data) != entry["size"] or size != entry["size"]:
        found = "missing" if data is None else f"{size} bytes"
        raise CheckpointError(f"checkpoint {path} is incomplete (interrupted save or copy?): {path / name} is "
                              f"{found}, {entry['size']} bytes were written")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(f"checkpoint {path} is damaged (interrupted copy, or changed since it was "
                              f"written?): {path / name} has other bytes than were written (SHA-256 differs)")
    return data


def _check_listing(folder: int, path: Path, listed: dict) -> None:
    """The folder holds regular files and folders only, and its files are exactly the listed ones (plus the
    manifest and the signature); nothing else is opened to find out."""
    found = set(_walk(folder, path, ""))
    extra = sorted(found - set(listed) - {MANIFEST, SIGNATURE})
    if extra:
        raise CheckpointError(f"checkpoint file {path / extra[0]} is not in its {MANIFEST}: refused (svglab "
                              "restores only the files it wrote)")


def _walk(folder: int, path: Path, prefix: str) -> Iterator[str]:
    for entry in sorted(os.listdir(folder)):
        name = f"{prefix}{entry}"
        mode = os.stat(entry, dir_fd=folder, follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            sub = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            try:
                yield from _walk(sub, path, f"{name}/")
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            yield name
        else:
            kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file (a FIFO, socket or device)"
            raise CheckpointError(f"checkpoint file {path / name} is {kind}: refused")


# ---------------------------------------------------------------- plain data


class _Array:
    """What pickle's `_reconstruct(ndarray, ...)` builds here: its BUILD state becomes a checked array."""

    array: np.ndarray

    def __setstate__(self, state) -> None:
        _, shape, dtype, fortran, raw = state
        self.array = _array_from(raw, dtype, shape, "F" if fortran else "C")


def _array_from(raw, dtype, shape, order: str) -> np.ndarray:
    """An array of a plain dtype whose bytes are all in the file: never an object array, never bigger than
    the bytes given."""
    dtype = _plain_dtype(dtype)
    if not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"array data of type {type(raw).__name__}: plain arrays hold bytes")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(n, int) and n >= 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(raw):
        raise pickle.UnpicklingError(f"array of shape {shape} and dtype {dtype} does not match its "
                                     f"{len(raw)} bytes")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)
    return array if isinstance(raw, bytearray) else array.copy(order="K")  # bytes: read-only, so a copy


def _plain_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in PLAIN_KINDS or dtype.hasobject or dtype.names:
        raise pickle.UnpicklingError(f"dtype {dtype!r}: plain arrays hold numbers or text only")
    return dtype


def _dtype(spec, align=False, copy=False) -> np.dtype:
    if not isinstance(spec, str):
        raise pickle.UnpicklingError(f"dtype {spec!r}: plain arrays name their dtype")
    return _plain_dtype(np.dtype(spec))


def _reconstruct(cls, shape, dtype_char) -> _Array:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}: plain data holds numpy arrays only")
    return _Array()


def _frombuffer(raw, dtype, shape, order) -> np.ndarray:
    return _array_from(raw, dtype, shape, order)


def _scalar(dtype, raw=None):
    dtype = _plain_dtype(dtype)
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise pickle.UnpicklingError(f"a {dtype} scalar needs {dtype.itemsize} bytes")
    return np.frombuffer(raw, dtype=dtype)[0]


# The globals a state file may reference: numpy arrays and scalars (through the checked builders above),
# ordered dicts, and numpy's array class itself (named by `_reconstruct`).
PLAIN_DATA = {("numpy", "dtype"): _dtype, ("numpy", "ndarray"): np.ndarray,
              ("numpy._core.numeric", "_frombuffer"): _frombuffer, ("numpy._core.multiarray", "scalar"): _scalar,
              ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
              ("collections", "OrderedDict"): __import__("collections").OrderedDict}


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in PLAIN_DATA:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: state files hold plain data only")
        return PLAIN_DATA[module, name]


def _resolved(value):
    """The loaded value with each `_Array` replaced by its array; refusing one whose BUILD never came."""
    if isinstance(value, _Array):
        if not hasattr(value, "array"):
            raise pickle.UnpicklingError("an array without its data")
        return value.array
    if isinstance(value, dict):
        return type(value)((key, _resolved(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_resolved(item) for item in value)
    return value


def _plain_load(data: bytes, where: Path):
    try:
        return _resolved(_PlainDataUnpickler(io.BytesIO(data)).load())
    except Exception as error:
        raise CheckpointError(f"checkpoint file {where} is corrupt or unsafe "
                              f"({type(error).__name__}: {error})") from None


def _check_msgpack(data: bytes, where: Path) -> None:
    """RLlib's msgpack state: decodable as plain msgpack (no extension types), and no object arrays in
    msgpack-numpy's encoding (which would be unpickled)."""
    try:
        import msgpack

        _refuse_object_arrays(msgpack.unpackb(data, strict_map_key=False, raw=False))
    except Exception as error:
        raise CheckpointError(f"checkpoint file {where} is corrupt or unsafe "
                              f"({type(error).__name__}: {error})") from None


def _refuse_object_arrays(value) -> None:
    if isinstance(value, dict):
        if value.get("nd") is True and value.get("kind") in ("O", b"O"):
            raise ValueError("an object array: unpickled when read")
        for item in value.values():
            _refuse_object_arrays(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_object_arrays(item)


def check_plain_data(state_file: Path) -> None:
    """Unpickle `state_file` allowing only plain data; CheckpointError naming the file otherwise."""
    load_plain_data(state_file)


def load_plain_data(state_file: Path):
    """The contents of regular file `state_file`, unpickled allowing only plain data; CheckpointError naming
    the file otherwise."""
    return _plain_load(read_regular(state_file), Path(state_file))


def read_regular(file: Path) -> bytes:
    """The bytes of `file` if it is a regular file (never followed through a symlink, never a FIFO or device,
    which are refused unread); CheckpointError naming it otherwise."""
    file = Path(file)
    with _open_folder(file.parent) as folder:
        try:
            return _read_file(folder, file.name, file.parent, limit=sys.maxsize)[0]
        except FileNotFoundError:
            raise CheckpointError(f"file {file} does not exist") from None


def load_checked(path: Path, name: str):
    """Listed file `name` of checkpoint `path`, read once: its size and SHA-256 checked against the manifest,
    then unpickled as plain data only (the objects handed on are the ones checked)."""
    path = Path(path)
    with _open_folder(path) as folder:
        listed = _read_manifest(folder, path)["files"]
        if name not in listed:
            raise CheckpointError(f"checkpoint {path} does not list {name} in its {MANIFEST}")
        return _plain_load(_read_listed(folder, path, name, listed[name]), path / name)
