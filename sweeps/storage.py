"""Where results live: a local folder, an NFS path, or a URI (file://, s3://, gs://).

Tune gets the location unchanged (`RunConfig(storage_path=...)`); the project's own reads and writes (the
sweep.json manifest, the resume checks, the results reader, the tables) go through `pyarrow.fs`, the
library Tune itself stores with, so all three kinds work alike. A plain path is made absolute; a URI is
never turned into a local path (`Path("file:///x").resolve()` is a folder named `file:` in the cwd).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from algorithms import atomic

_WILDCARDS = "*?["


def is_uri(where: str | os.PathLike) -> bool:
    return "://" in str(where)


# A URI's credentials: the user:password@ before the host, and query options that carry secrets.
_URI = re.compile(r"[a-zA-Z][\w+.-]*://\S*")
_SECRET_OPTION = re.compile(r"([?&])(?:access_key|secret_key|session_token|secret|password|token|credentials?|"
                            r"key|sas_token|account_key)=[^&#]*", re.IGNORECASE)


def without_credentials(text: str) -> str:
    """`text` (a URI, or a command line holding URIs) without the credentials a URI may carry:
    s3://KEY:SECRET@bucket/x?region=r&secret_key=S -> s3://bucket/x?region=r. What svglab saves (sweep.json,
    the lock file) or prints goes through it; Tune and pyarrow get the URI as given."""
    return _URI.sub(lambda uri: _uri_without_credentials(uri.group()), text)


def _uri_without_credentials(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    host, tail = re.match(r"([^/?#]*)(.*)", rest).groups()
    uri = f"{scheme}://{host.rpartition('@')[2]}{tail}"
    cleaned, removed = _SECRET_OPTION.subn(r"\1", uri)
    return re.sub(r"[?&]+$", "", re.sub(r"([?&])&+", r"\1", cleaned)) if removed else uri


@dataclass(frozen=True)
class Location:
    """A file or folder of the results storage, with the small Path-like API the project needs.

    `uri` is what Tune and the messages get: the URI as given, or the absolute path of a plain path.
    """

    uri: str
    fs: pafs.FileSystem = field(compare=False, repr=False)
    path: str = field(compare=False, repr=False)  # the path inside `fs`
    query: str = field(default="", compare=False, repr=False)  # a URI's ?options (e.g. region=...), kept last

    @classmethod
    def of(cls, where: str | os.PathLike | Location) -> Location:
        if isinstance(where, Location):
            return where
        text = str(where)
        if not is_uri(text):
            text = str(Path(text).expanduser().resolve())
        base, _, query = text.partition("?")
        base = base.rstrip("/") or base
        fs, path = pafs.FileSystem.from_uri(f"{base}?{query}" if query else base)
        return cls(base, fs, path.rstrip("/") or path, query)

    def __str__(self) -> str:
        """For messages and saved files: without credentials (`full` is what Tune and Ray tasks get)."""
        return without_credentials(self.full)

    @property
    def full(self) -> str:
        """The location as given, credentials included."""
        return f"{self.uri}?{self.query}" if self.query else self.uri

    def __truediv__(self, name: str) -> Location:
        return Location(f"{self.uri}/{name}", self.fs, f"{self.path}/{name}", self.query)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        return Location(self.uri.rsplit("/", 1)[0], self.fs, self.path.rsplit("/", 1)[0] or "/", self.query)

    @property
    def local(self) -> Path | None:
        """The local path of a plain path; None for a URI (file:// included: read through pyarrow.fs)."""
        return None if is_uri(self.uri) else Path(self.path)

    # ------------------------------------------------------------ queries

    def _info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.path)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def size(self) -> int:
        return self._info().size or 0

    def mtime(self) -> float:
        info = self._info()
        return info.mtime.timestamp() if info.mtime else 0.0

    def children(self) -> list[Location]:
        """The entries of this folder (none when it does not exist), sorted by name."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(self / info.base_name for info in infos)

    def glob(self, pattern: str) -> list[Location]:
        """Path.glob for patterns like `*/params.json` or `checkpoint_*` (one folder level per component)."""
        found = [self]
        for part in pattern.split("/"):
            if any(c in part for c in _WILDCARDS):
                found = [child for loc in found if loc.is_dir() for child in loc.children()
                         if fnmatch.fnmatchcase(child.name, part)]
            else:
                found = [loc / part for loc in found]
        return sorted(loc for loc in found if loc.exists())

    def __lt__(self, other: Location) -> bool:
        return self.uri < other.uri

    # ------------------------------------------------------------ reads and writes

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as stream:
            return stream.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_text(self, text: str) -> None:
        """Written whole or not at all: on a local file system through algorithms.atomic, on object storage by
        its single upload."""
        if isinstance(self.fs, pafs.LocalFileSystem):
            atomic.write_text(Path(self.path), text)
            return
        with self.fs.open_output_stream(self.path) as stream:
            stream.write(text.encode())

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def delete(self) -> None:
        self.fs.delete_file(self.path)

    @contextlib.contextmanager
    def as_local(self) -> Iterator[Path]:
        """A local path holding this folder: itself for a plain path, else a temporary copy."""
        if self.local is not None:
            yield self.local
            return
        with tempfile.TemporaryDirectory(prefix="svglab-") as tmp:
            copy = Path(tmp) / self.name
            pafs.copy_files(self.path, str(copy), source_filesystem=self.fs,
                            destination_filesystem=pafs.LocalFileSystem())
            yield copy
