"""One run per experiment folder: `<results>/<Task>-<mode>-<budget>/.svglab-lock`, taken before Ray starts
and before anything else is written there, released when the run ends.

A second run of the same experiment (two `make sweep` with the same RESULTS, or a rerun while the first is
still going) would write the same trial folders and Tune state at once. It stops instead, naming the run that
holds the folder (host, pid, start time, command), and writes nothing. Other experiments into the same
RESULTS (another task, mode or budget) have folders of their own and run beside it.

On a local folder, an NFS mount or a file:// URI the lock is the kernel's (`flock` on the lock file), so it
dies with its process: a lock file left by a run that was killed (`kill -9`, a reboot, a lost SSH session)
is taken over with a note naming that run. On s3:// or gs:// there is no such lock: the lock file is
advisory (checked, then written), and one left by a run on another host is taken over only once deleted.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

from sweeps.plan import SweepInputError
from sweeps.storage import Location, without_credentials
from sweeps.storage_errors import storage_errno, storage_problem

LOCK_NAME = ".svglab-lock"


def this_run() -> dict:
    """What the lock file says about the run holding it."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": without_credentials(" ".join(["python -m sweeps.sweep", *sys.argv[1:]]))}


def describe(holder: dict) -> str:
    return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started {holder.get('started', '?')}, "
            f"command: {holder.get('command', '?')}")


@contextlib.contextmanager
def experiment_lock(exp_dir: Location) -> Iterator[None]:
    """Hold the experiment folder for this run; SweepInputError when another run holds it."""
    local = Path(exp_dir.path) if isinstance(exp_dir.fs, pafs.LocalFileSystem) else None
    try:
        release = _flock(local / LOCK_NAME, exp_dir) if local else _advisory(exp_dir / LOCK_NAME, exp_dir)
    except OSError as error:
        problem = storage_errno(error)
        if problem is None:
            raise
        raise SweepInputError(storage_problem(exp_dir, problem)) from None
    try:
        yield
    finally:
        release()


def _in_use(exp_dir: Location, holder: dict) -> SweepInputError:
    return SweepInputError(
        f"{exp_dir} is in use by another run ({describe(holder)}). Nothing was written. Wait for that run to end "
        "(or stop it; running the same command afterwards resumes it), or give this one another --results "
        "(RESULTS=).")


def _taken_over(exp_dir: Location, holder: dict) -> None:
    print(f"note: {exp_dir} was held by a run that is no longer running ({describe(holder)}); this run takes "
          "it over.", flush=True)


def _flock(path: Path, exp_dir: Location):
    """The kernel's lock on `path`; returns the function that releases it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise _in_use(exp_dir, holder) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the run that held it removed the file as it ended: lock the new one
    previous = _read(fd)
    if previous:  # a run that ended without removing its lock file: it was killed
        _taken_over(exp_dir, previous)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(this_run()).encode(), 0)
    os.fsync(fd)

    def release() -> None:
        with contextlib.suppress(OSError):
            path.unlink()  # before unlocking: a run waiting on this file then locks a fresh one
        os.close(fd)
    return release


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _read(fd: int) -> dict:
    text = os.pread(fd, 65536, 0)
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {"command": "unreadable lock file"}


def _advisory(path: Location, exp_dir: Location):
    """Object storage: the lock file is checked, then written (another run may slip in between)."""
    if path.exists():
        holder = json.loads(path.read_text() or "{}")
        if not _dead_here(holder):
            error = _in_use(exp_dir, holder)
            raise SweepInputError(f"{error} On object storage the lock is advisory: if that run is no longer "
                                  f"running, delete {path} and run the command again.")
        _taken_over(exp_dir, holder)
    path.write_text(json.dumps(this_run()))

    def release() -> None:
        with contextlib.suppress(OSError):
            path.delete()
    return release


def _dead_here(holder: dict) -> bool:
    """True when the lock's run was on this host and its process is gone."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except OSError as error:
        return error.errno == errno.ESRCH
    return False
