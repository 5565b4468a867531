"""The Makefile's ARGS: `python -m sweeps.make_args MODULE [OPTION ...]` runs `python -m MODULE OPTION ...` with
the words of the ARGS environment variable appended.

ARGS is split as a POSIX shell splits words (quotes group words, a backslash escapes) and nothing else: no
variable, command substitution, glob or `;` is expanded or run, so `ARGS="--set 'x=a b' --latest"` gives two
options and `ARGS='$(id); touch f'` gives the literal words `$(id);`, `touch` and `f`.
"""

from __future__ import annotations

import os
import shlex
import sys


def main(argv: list[str]) -> int | None:
    text = os.environ.get("ARGS", "")
    try:
        words = shlex.split(text)
    except ValueError as error:
        print(f"error: ARGS={text}: {error}: close the quote, or escape it with a backslash", file=sys.stderr)
        return 2
    if not argv:
        print("usage: python -m sweeps.make_args MODULE [OPTION ...]", file=sys.stderr)
        return 2
    os.execv(sys.executable, [sys.executable, "-m", *argv, *words])  # replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
