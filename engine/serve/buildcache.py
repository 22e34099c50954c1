"""Revisions built once for every worker process of one service.

A service with many policies (``--policies``) and several workers would otherwise parse
and check each revision once per worker.  Instead each answer of a reload child (the
checked policy, or its problems, pickled) is kept in a folder private to the running
service, under a key naming exactly what was built: the revision (content hash and git
commit), how its paths are shown, its shared layer, and whether the coverage summary
was made.  A worker needing the same revision reads the answer instead of building it;
two workers needing it at once build it once (an exclusive lock per key).  Answers no
one read for :data:`KEEP_SECONDS` are removed.  The folder lives as long as the service
(a temporary directory): pickles are never read by another version of the code.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from alertpolicy.engine.load.files import PolicySource, revision_of

log = logging.getLogger("alertpolicy.serve")

KEEP_SECONDS = 600.0
"""How long an answer is kept after it was last written or read."""
PRUNE_EVERY = 60.0
"""Seconds between two sweeps for answers to remove."""


def build_key(source: PolicySource, with_coverage: bool, slim: bool = False) -> str:
    """The key of the answer for ``source`` (built with or without a coverage summary,
    slimmed for serving or not)."""
    parts = [revision_of(source), source.label, source.shared or "", str(with_coverage)]
    parts += ["slim"] if slim else []
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


class BuildCache:
    """Answers of reload children kept in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._swept = 0.0

    def get(self, key: str) -> bytes | None:
        """The answer kept under ``key``, or ``None``."""
        path = self.folder / f"{key}.pickle"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return data

    def has(self, source: PolicySource, with_coverage: bool, slim: bool = False) -> bool:
        """Whether an answer for ``source`` is kept (see :meth:`find`)."""
        return any(
            (self.folder / f"{k}.pickle").exists() for k in _keys(source, with_coverage, slim)
        )

    def find(self, source: PolicySource, with_coverage: bool, slim: bool = False) -> bytes | None:
        """The answer for ``source``: one with a coverage summary serves either need."""
        for key in _keys(source, with_coverage, slim):
            found = self.get(key)
            if found is not None:
                return found
        return None

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` (written whole, then renamed into place).  Where it
        cannot be written (a full disk), nothing is kept: the other workers build it."""
        self._prune()
        temporary: str | None = None
        try:
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".", delete=False) as out:
                temporary = out.name
                out.write(data)
            os.replace(temporary, self.folder / f"{key}.pickle")
        except OSError as error:
            log.warning("a built revision could not be kept for the other workers: %s", error)
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock: another process building it waits for this one (where the
        lock cannot be made, a full disk, each builds it alone)."""
        try:
            descriptor = os.open(self.folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def _prune(self) -> None:
        now = time.time()
        if now - self._swept < PRUNE_EVERY:
            return
        self._swept = now
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > KEEP_SECONDS:
                        os.unlink(entry.path)


def _keys(source: PolicySource, with_coverage: bool, slim: bool) -> list[str]:
    """The keys of the answers that serve a need, the best first."""
    return [build_key(source, coverage, slim) for coverage in (True, False)[: 2 - with_coverage]]
