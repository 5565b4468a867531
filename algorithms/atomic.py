"""Writes that a crash or a power loss cannot leave half done, the one definition every writer of svglab's
files uses (checkpoints, policies, sweep.json, the model ablation's state, evaluate.json, videos).

The new contents go into a hidden sibling (`.NAME.partial-PID`, same folder, so the rename stays on one file
system); once complete, its files and folders are fsynced, it is renamed over the target, and the folder is
fsynced, so after a crash the target holds the old contents or the new ones, whole. A folder replaces an
existing folder through a hidden `.previous` sibling, removed once the new one is in place.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """The temporary sibling of `path` to write (as a file, or as a folder); when the block ends without an
    error it becomes `path` durably. On an error it is removed and `path` is left as it was."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    _remove(partial)
    try:
        yield partial
        _sync(partial)
        _move(partial, path)
    except BaseException:
        _remove(partial)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as partial:
        partial.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a rename into it) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync(partial: Path) -> None:
    """fsync every file under `partial` (or `partial` itself), then every folder, deepest first."""
    if not partial.is_dir():
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        return
    folders = [partial]
    for root, dirs, files in os.walk(partial):
        for name in files:
            _sync(Path(root) / name)
        folders += [Path(root) / name for name in dirs]
    for folder in reversed(folders):
        fsync_folder(folder)


def _move(partial: Path, path: Path) -> None:
    """Rename `partial` to `path`; a folder with contents at `path` is moved aside first and removed after."""
    previous = None
    if partial.is_dir() and path.is_dir() and not path.is_symlink() and any(path.iterdir()):
        previous = path.with_name(f".{path.stem}.previous-{os.getpid()}{path.suffix}")
        _remove(previous)
        path.rename(previous)
    os.replace(partial, path)  # over a file or an empty folder in one step
    fsync_folder(path.parent)
    if previous is not None:
        _remove(previous)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
