"""A local copy of one ref of a git repository, fetched on demand (as git-sync keeps one).

:class:`GitMirror` keeps a bare repository of its own and fetches one ref of the
repository it follows (a local path, or any URL git can fetch: ``https://``, ``ssh://``,
``git@host:path``) into ``refs/alertpolicy/fetched``.  Policies are then read from its
objects (:mod:`.git`): nothing is checked out, so a revision is always one whole commit,
never a half-updated work tree.

Several processes (the workers of one service) may share a mirror: each fetch holds an
exclusive lock on the mirror, and git's automatic housekeeping is off, so that no fetch
repacks objects another process is reading.  git never prompts for a password: use a
credential helper, an SSH key (``GIT_SSH_COMMAND``) or a token in the URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path

from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.load.git import resolve_commit
from alertpolicy.engine.load.gitrun import run_git

FETCHED = "refs/alertpolicy/fetched"
"""Where the mirror keeps the commit last fetched."""
FETCH_TIMEOUT = 120.0
"""Seconds one fetch may take before it is given up (and reported)."""
QUIET = ("-c", "gc.auto=0", "-c", "maintenance.auto=false")
"""No automatic housekeeping while other processes may read the objects."""
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[^/]+@[^/:]+:")


def source_url(repository: str) -> str:
    """``repository`` as git should fetch it: an existing local path made absolute (git
    runs in the mirror, not here), anything else (a URL, ``host:path``) as given."""
    if _URL_SCHEME.match(repository) or not os.path.exists(repository):
        return repository
    return os.path.abspath(repository)


def mirror_folder(state: Path, url: str, ref: str) -> Path:
    """Where the mirror of ``url``'s ``ref`` lives under ``state`` (one per pair)."""
    digest = hashlib.sha256(f"{url}\0{ref}".encode()).hexdigest()[:12]
    return state / "git" / f"mirror-{digest}.git"


class GitMirror:
    """A bare repository in ``folder`` holding ``url``'s ``ref`` as last fetched."""

    def __init__(self, url: str, ref: str, folder: Path, *, timeout: float = FETCH_TIMEOUT) -> None:
        if ref.startswith("-") or not ref.strip():
            raise PolicyError([Problem("bad-git-ref", f"{ref!r} is not a branch or tag name")])
        self.url = source_url(url)
        self.ref = ref
        self.folder = Path(folder)
        self.timeout = timeout

    @property
    def shown(self) -> str:
        """The repository and ref, as people read them: ``https://…/policy.git@main``."""
        return f"{redact(self.url)}@{self.ref}"

    def fetch(self) -> str:
        """Fetch the ref now; the full id of the commit it names.

        Raises :class:`PolicyError` (``git-fetch-failed``) when the repository cannot be
        reached, the ref does not exist there, or the fetch takes too long.
        """
        self._initialise()
        with self._locked():
            refspec = f"+{self.ref}:{FETCHED}"
            try:
                run_git(
                    self.folder,
                    *QUIET,
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--",
                    self.url,
                    refspec,
                    timeout=self.timeout,
                    code="git-fetch-failed",
                )
            except PolicyError as error:
                problem = error.problems[0]
                message = f"cannot fetch {self.shown}: {redact(problem.message)}"
                raise PolicyError([Problem(problem.code, message)]) from None
            return resolve_commit(self.folder, FETCHED)

    def fetched(self) -> str | None:
        """The commit fetched last (by any process sharing the mirror), or ``None``."""
        if not (self.folder / "HEAD").exists():
            return None
        try:
            return resolve_commit(self.folder, FETCHED)
        except PolicyError:
            return None

    def _initialise(self) -> None:
        if (self.folder / "HEAD").exists():
            return
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            if not (self.folder / "HEAD").exists():
                run_git(self.folder.parent, "init", "--quiet", "--bare", str(self.folder))

    def _locked(self) -> _FileLock:
        return _FileLock(self.folder.with_name(self.folder.name + ".lock"))


class _FileLock:
    """An exclusive ``flock`` on a file, for a ``with`` block (between processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> _FileLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it (``https://user:token@host``)
    replaced by ``***``, for logs and status."""
    return re.sub(r"://[^/@\s]+@", "://***@", text)
