"""The state directory: the last accepted revision, kept across restarts.

The coverage guard compares a candidate with the revision serving.  So that a restart
does not forget what was serving (and let a policy that lost its rules straight in), the
files of every revision the service accepts are kept here, and a service started on a
policy that trips the guard against them serves the kept revision and holds the new one.

One JSON file per policy (``accepted-<hash of the policy path or origin>.json``): the
revision string, the git commit and every file's text, written to a temporary file and
renamed over the old one, so that a crash never leaves half a file.  The default
directory is outside the policy directory (which may be read-only: a ConfigMap, a
release folder): ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``), else
``$XDG_STATE_HOME/alertpolicy``, else ``~/.local/state/alertpolicy``.  Worker processes
share it: one worker's acceptance is seen by the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from alertpolicy.engine.errors import StartError
from alertpolicy.engine.load.files import PolicySource, revision_of

log = logging.getLogger("alertpolicy.state")

FORMAT = 1
"""Version of the kept file's layout."""


def default_state_dir() -> Path:
    """Where revisions are kept when ``--state-dir`` is not given (see the module doc)."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "alertpolicy"


class AcceptedStore:
    """The last accepted revision of one policy, in a state directory.

    The policy is named by its directory (made absolute), or by the key of where it comes
    from (:attr:`~.origin.Origin.key`: a school, a folder in a git repository).
    """

    def __init__(self, directory: Path, policy: Path | str, *, sync: bool = True) -> None:
        self.directory = Path(directory)
        self.sync = sync
        """Whether each record is flushed to disk before it replaces the last (``fsync``);
        a service of many schools leaves that to the kernel (still never half a file)."""
        where = os.path.abspath(policy) if isinstance(policy, Path) else policy
        digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
        self.path = self.directory / f"accepted-{digest}.json"
        self.policy_path = where
        self._known: tuple[tuple[int, int, int], str | None] | None = None
        """The revision kept, with the file's (inode, mtime, size) when it was read."""

    def prepare(self) -> None:
        """Create the directory if needed; :class:`StartError` if it cannot be written."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError as error:
            raise StartError(
                f"cannot use the state directory {self.directory}: "
                f"{error.strerror or error} (give a writable --state-dir, or --state-dir "
                "none to keep no state across restarts)"
            ) from error

    def stamp(self) -> tuple[int, int, int] | None:
        """What changes whenever another process keeps a revision here (``None``: none
        kept)."""
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def revision(self) -> str | None:
        """The revision kept, or ``None`` when none is (or it cannot be read).

        The file (megabytes at trust scale) is read again only when it has changed.
        """
        stamp = self.stamp()
        if stamp is None:
            return None
        if self._known is None or self._known[0] != stamp:
            data = self._read()
            self._known = (stamp, str(data["revision"]) if data else None)
        return self._known[1]

    def load(self, label: str) -> PolicySource | None:
        """The files of the kept revision, shown under ``label``; ``None`` if none is kept.

        A kept file that cannot be read or does not add up (edited by hand, cut short)
        is reported in the log and ignored.
        """
        stamp = self.stamp()
        data = self._read()
        if data is None:
            return None
        try:
            files = {str(k): str(v).encode("utf-8") for k, v in dict(data["files"]).items()}
            git, shared = data.get("git"), data.get("shared")
            source = PolicySource(label, files, str(git) if git else None, shared)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            log.warning("ignoring the kept revision in %s: %s", self.path, error)
            return None
        if revision_of(source) != data["revision"]:
            log.warning("ignoring the kept revision in %s: its files do not match", self.path)
            return None
        if stamp is not None:
            self._known = (stamp, str(data["revision"]))  # :meth:`revision` need not read it
        return source

    def record(self, source: PolicySource) -> None:
        """Keep ``source`` as the last accepted revision (atomically replacing the last)."""
        record = {
            "format": FORMAT,
            "policy": self.policy_path,
            "revision": revision_of(source),
            "git": source.git,
            "shared": source.shared,
            "files": {path: source.files[path].decode("utf-8") for path in sorted(source.files)},
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.directory, prefix=".accepted-", delete=False
            ) as out:
                json.dump(record, out, ensure_ascii=False)
                out.flush()
                if self.sync:
                    os.fsync(out.fileno())
                info = os.fstat(out.fileno())  # the file's, once renamed into place
            os.replace(out.name, self.path)
            self._known = ((info.st_ino, info.st_mtime_ns, info.st_size), str(record["revision"]))
        except (OSError, UnicodeDecodeError) as error:
            log.error("could not keep the accepted revision in %s: %s", self.path, error)

    def _read(self) -> dict[str, Any] | None:
        try:
            with self.path.open(encoding="utf-8") as kept:
                data = json.load(kept)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring the kept revision in %s: %s", self.path, error)
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            log.warning("ignoring the kept revision in %s: unknown format", self.path)
            return None
        return data
