"""Policy files parsed once while a service runs: a reload parses only the files that changed.

Parsing YAML is most of the time a reload takes, and a reload after an edit usually
finds one file changed among many.  A :class:`ParseCache` keeps, in a folder private to
the running service, each cleanly parsed file's plain data and where its definitions
are (:attr:`~.document.Document.outline`), under a key naming exactly what was parsed:
the file's bytes, its path inside the policy and the path people see.  A file read again
with the same key is taken from the folder; its YAML nodes are parsed only if something
asks where a value other than a definition is (to place a problem).  A file with any
parse problem or YAML 1.1 boolean is never kept: it is parsed every time, so that every
problem is found and placed as before.

Entries are written whole and renamed into place, so a reader never sees half of one;
an entry that cannot be read is parsed again.  Entries no one read for
:data:`KEEP_SECONDS` are removed.  The folder lives as long as the service (a temporary
directory), so entries are never read by another version of the code.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from alertpolicy.engine.errors import Problem
from alertpolicy.engine.load.document import Document
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.load.safeyaml import parse_file

FORMAT = 1
"""Version of an entry's layout (part of its key)."""
KEEP_SECONDS = 600.0
"""How long an entry is kept after it was last written or read."""
PRUNE_EVERY = 60.0
"""Seconds between two sweeps for entries to remove."""
SWEPT = ".swept"
"""The file whose modification time says when the folder was last swept."""

Fresh = list[tuple[str, Document]]
"""Documents parsed (not read from the cache), with their keys: to keep once built."""


def entry_key(relpath: str, file: str, raw: bytes) -> str:
    """The key of the entry for the file at ``relpath`` (shown as ``file``) holding ``raw``."""
    digest = hashlib.sha256(f"{FORMAT}\0{relpath}\0{file}\0".encode())
    digest.update(raw)
    return digest.hexdigest()[:40]


class ParseCache:
    """Parsed policy files kept in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def parse(self, source: PolicySource) -> tuple[list[Document], list[Problem], Fresh]:
        """Every file of ``source`` parsed (or read from the cache), as
        :func:`~.safeyaml.parse_source` does, and those parsed now that may be kept."""
        documents: list[Document] = []
        problems: list[Problem] = []
        fresh: Fresh = []
        for relpath in sorted(source.files):
            raw, file = source.files[relpath], source.display_path(relpath)
            key = entry_key(relpath, file, raw)
            document = self._read(key, relpath, file, raw)
            if document is None:
                document, found = parse_file(relpath, file, raw)
                problems.extend(found)
                if document is not None and not found and not document.loose_booleans:
                    fresh.append((key, document))
            if document is not None:
                documents.append(document)
        return documents, problems, fresh

    def keep(self, fresh: Fresh) -> None:
        """Keep each of ``fresh`` (parsed by :meth:`parse`, then used: its outline filled)."""
        self._prune()
        for key, document in fresh:
            try:
                data = marshal.dumps((FORMAT, document.data, document.outline))
            except ValueError:
                continue  # not plain data: cannot be the case for a clean parse
            with contextlib.suppress(OSError):
                self._write(key, data)

    def _read(self, key: str, relpath: str, file: str, raw: bytes) -> Document | None:
        path = self.folder / key
        try:
            entry: Any = marshal.loads(path.read_bytes())
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if not (isinstance(entry, tuple) and len(entry) == 3 and entry[0] == FORMAT):
            return None
        _, data, outline = entry
        if not isinstance(data, dict) or not isinstance(outline, dict):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return Document(relpath, file, data, None, text=text, outline=outline)

    def _write(self, key: str, data: bytes) -> None:
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".", delete=False) as out:
            out.write(data)
        os.replace(out.name, self.folder / key)

    def _prune(self) -> None:
        """Remove entries not read for :data:`KEEP_SECONDS`, at most every
        :data:`PRUNE_EVERY` seconds (each reload child is a new process: the folder
        remembers when it was swept)."""
        now = time.time()
        marker = self.folder / SWEPT
        try:
            if now - marker.stat().st_mtime < PRUNE_EVERY:
                return
        except FileNotFoundError:
            pass
        except OSError:
            return
        with contextlib.suppress(OSError):
            marker.touch()
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.name != SWEPT and now - entry.stat().st_mtime > KEEP_SECONDS:
                        os.unlink(entry.path)
