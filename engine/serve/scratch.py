"""The service's scratch folders in the temporary folder, and what a killed service left.

``alertpolicy serve`` keeps a few folders while it runs (the revisions its workers share,
their metrics, the files reload children parsed, a mirror of ``--policy-git``).  A stop
removes them; a process killed outright (the out-of-memory killer, ``kill -9``) cannot.
So each folder holds a lock (``flock``) for as long as the process that made it lives,
and a service starting removes every such folder whose lock it can take.  The kernel
drops a lock when its holder dies, so this holds across PID namespaces (containers
sharing ``/tmp``), where process ids would mislead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import weakref
from pathlib import Path

PREFIX = "alertpolicy-"
"""How every scratch folder's name begins."""
_IN_USE = ".in-use"
"""The lock file in a scratch folder, locked by the process using the folder."""


class ScratchFolder:
    """A new folder ``alertpolicy-<kind>-…`` in the temporary folder, marked in use until
    :meth:`remove`, the end of a ``with`` block, or its process (removed as the
    interpreter exits, as :class:`tempfile.TemporaryDirectory` is)."""

    def __init__(self, kind: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
        # Locked before it takes its name, so that no one finds it unlocked.
        marking = self.path / f"{_IN_USE}.new"
        held = os.open(marking, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        fcntl.flock(held, fcntl.LOCK_EX)
        marking.rename(self.path / _IN_USE)
        self._remove = weakref.finalize(self, _remove, self.path, held)

    def remove(self) -> None:
        """Remove the folder and everything in it.  Removing twice is harmless."""
        self._remove()

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _remove(folder: Path, held: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.close(held)


def remove_abandoned(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders (in ``base``, by default the temporary folder) of
    services that ended without removing them; the folders removed, sorted.

    Only this user's folders marked in use are looked at, and only those whose lock is
    free (no process holds it) are removed.
    """
    removed = []
    for folder in sorted((base or Path(tempfile.gettempdir())).glob(f"{PREFIX}*")):
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            lock = os.open(folder / _IN_USE, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:  # not a folder, not marked, or gone meanwhile
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # in use
            os.close(lock)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)
        removed.append(folder)
    return removed
