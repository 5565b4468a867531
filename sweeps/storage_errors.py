"""A results folder that fills up or stops being writable: said once, with the path and what to do.

Before Ray starts, the experiment folder must take a write. While the sweep runs, a trial that fails on
a full or read-only disk would have Tune print its stack trace (and one per retry); those records are
held back and the sweep ends with one message instead. Everything already written stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re

from sweeps.plan import SweepInputError

# errno -> what it says about the results folder.
STORAGE_ERRORS = {errno.ENOSPC: "is full", errno.EDQUOT: "is over its disk quota", errno.EROFS: "is read-only",
                  errno.EACCES: "is not writable"}
_ERRNO = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)
# Tune's loggers that print a stack trace for each failed trial and each failed save of its own state.
TUNE_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.execution.experiment_state",
               "ray.train._internal.syncer")


def storage_errno(error: BaseException) -> int | None:
    """The errno when `error`, the trial error Ray wraps around it, or the error it happened in handling, is
    a storage error."""
    if isinstance(error, OSError) and error.errno in STORAGE_ERRORS:
        return error.errno
    numbers = [int(n) for n in _ERRNO.findall(str(error)) if int(n) in STORAGE_ERRORS]
    if numbers:
        return numbers[0]
    cause = error.__cause__ or error.__context__
    return storage_errno(cause) if cause is not None else None


def storage_problem(exp_dir, number: int) -> str:
    return (f"the results folder {exp_dir} {STORAGE_ERRORS[number]} ({os.strerror(number)}). What is written there is "
            "intact and readable. Free some space or make it writable (or copy the folder and pass its new "
            "parent as --results / RESULTS=), then run the same command again to resume.")


def check_writable(exp_dir) -> None:
    """SweepInputError, before Ray starts, when the experiment folder (a sweeps.storage.Location) cannot
    take a write."""
    probe = exp_dir / ".svglab-write-test"
    try:
        exp_dir.mkdir()
        probe.write_text("\0" * 65536)
        probe.delete()
    except OSError as error:
        problem = storage_errno(error)
        if problem is None:
            raise
        with contextlib.suppress(OSError):
            probe.delete()
        raise SweepInputError(storage_problem(exp_dir, problem)) from None


class StorageErrors(logging.Filter):
    """Collects the storage errors of a sweep and drops Tune's stack trace of each trial they failed."""

    def __init__(self):
        super().__init__()
        self.seen: list[int] = []
        self.after: str | None = None  # an error that followed them

    def filter(self, record: logging.LogRecord) -> bool:
        # Ray Train's syncer puts the traceback in the message itself.
        problem = storage_errno(record.exc_info[1] if record.exc_info else Exception(record.getMessage()))
        if problem:
            self.seen.append(problem)
        return problem is None

    def note(self, error: BaseException) -> bool:
        """Record `error` if it is a storage error (say, from the driver's own writes); True if it was."""
        problem = storage_errno(error)
        if problem:
            self.seen.append(problem)
        return problem is not None


@contextlib.contextmanager
def storage_errors_reported_once():
    errors = StorageErrors()
    for name in TUNE_LOGGERS:
        logging.getLogger(name).addFilter(errors)
    try:
        yield errors
    finally:
        for name in TUNE_LOGGERS:
            logging.getLogger(name).removeFilter(errors)
