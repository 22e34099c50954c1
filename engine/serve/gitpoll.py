"""Following a git ref: fetch every few seconds (as git-sync does), or when told to.

A :class:`GitPoller` fetches its mirror's ref every ``every`` seconds on a thread of its
own, and whenever :meth:`GitPoller.fetch_now` is called (``POST /-/reload``, SIGHUP).
Each time the ref names a new commit, ``changed`` is told it; the coordinator then reads
that commit straight from git objects and loads it as one revision, through every check
and the coverage guard.  A fetch that fails (the server unreachable, the ref deleted, a
fetch taking too long) changes nothing: the revision serving stays, and the failure is
logged, counted and shown in ``GET /v1/policy`` until a fetch succeeds again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from alertpolicy.engine.errors import PolicyError, StartError
from alertpolicy.engine.load.mirror import GitMirror
from alertpolicy.engine.serve.clock import iso, utc_now
from alertpolicy.engine.serve.settings import ServeSettings

log = logging.getLogger("alertpolicy.git")

FetchListener = Callable[[bool, datetime], None]
"""Told after every fetch: whether it succeeded, and when."""


class GitPoller:
    """Fetches ``mirror`` every ``every`` seconds and tells ``changed`` each new commit."""

    def __init__(
        self,
        mirror: GitMirror,
        every: float,
        changed: Callable[[str], None],
        on_fetch: FetchListener | None = None,
    ) -> None:
        self.mirror = mirror
        self.every = every
        self.changed = changed
        self.on_fetch = on_fetch
        self.commit: str | None = mirror.fetched()
        """The commit the ref named at the last successful fetch (or in the mirror)."""
        self.fetched_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="git-poll", daemon=True)

    def start(self) -> None:
        """Start fetching every :attr:`every` seconds."""
        self._thread.start()

    def stop(self) -> None:
        """Stop fetching (a fetch in progress finishes first)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.mirror.timeout + 5)

    def fetch_now(self, tell: bool = True) -> str | None:
        """Fetch now; the commit the ref names (``None`` when the fetch failed and nothing
        was ever fetched).  Tells ``changed`` if it is new, unless ``tell`` is false (the
        caller loads what was fetched itself)."""
        with self._lock:
            at = utc_now()
            try:
                commit = self.mirror.fetch()
            except PolicyError as error:
                self.last_error = error.problems[0].message
                self.last_error_at = at
                log.warning("%s (still serving what was fetched before)", self.last_error)
                self._told(False, at)
                return self.commit
            new = commit != self.commit
            self.commit, self.fetched_at = commit, at
            self.last_error = self.last_error_at = None
            self._told(True, at)
        if new:
            log.info("fetched %s: commit %s", self.mirror.shown, commit[:12])
            if tell:
                self.changed(commit)
        return commit

    def status(self) -> dict[str, Any]:
        """The ``source`` of ``GET /v1/policy``: repository, ref, commit, last fetch."""
        return {
            "repository": self.mirror.shown.rsplit("@", 1)[0],
            "ref": self.mirror.ref,
            "commit": self.commit,
            "fetched_at": iso(self.fetched_at) if self.fetched_at else None,
            "poll_seconds": self.every,
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at) if self.last_error_at else None,
        }

    def _told(self, ok: bool, at: datetime) -> None:
        if self.on_fetch is not None:
            try:
                self.on_fetch(ok, at)
            except Exception:  # reporting must never stop the fetching
                log.exception("a fetch listener failed")

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                self.fetch_now()
            except Exception:  # the poll thread must outlive any one failed fetch
                log.exception("fetching the policy repository failed")


def git_mirror(settings: ServeSettings) -> GitMirror | None:
    """The mirror of ``--policy-git`` (``None`` without it)."""
    if settings.policy_git is None:
        return None
    if settings.git_mirror is None:
        raise StartError("no folder was chosen for the mirror of --policy-git")
    return GitMirror(settings.policy_git, settings.git_ref, settings.git_mirror)


def first_fetch(poller: GitPoller) -> None:
    """Fetch before the first load: :class:`StartError` when that fails and nothing was
    fetched before (a mirror kept in the state directory serves what it holds).  The
    first load reads what was fetched: it is not reloaded again."""
    if poller.fetch_now(tell=False) is None:
        raise StartError(poller.last_error or f"cannot fetch {poller.mirror.shown}")
