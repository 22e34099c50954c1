"""Noticing that the policy on disk changed, however it is deployed.

Two ways, both asking for a (debounced) reload:

- file-system events (watchdog) under the directory ``--policy`` leads to and in the
  folder holding ``--policy`` itself, so that an edit is picked up in a fraction of a
  second, a swapped ``--policy`` link is noticed, and so is a Kubernetes ConfigMap's
  ``..data`` link being swapped;
- a poll, every :data:`POLL_SECONDS`, of where ``--policy`` leads and a stamp of every
  policy file read through every link (:func:`~alertpolicy.engine.load.files.file_stamps`),
  which catches what events cannot: a linked subfolder (inotify does not follow links),
  a link swapped further up the path, a file system without events.

The watcher is a subscriber of the coordinator: after each reload it re-arms its event
watches if ``--policy`` now leads somewhere else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from alertpolicy.engine.load.files import POLICY_SUFFIXES, TESTS_FOLDER, file_stamps
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision

log = logging.getLogger("alertpolicy.reload")

POLL_SECONDS = 1.0
"""How often the policy files' stamps are compared (the backstop for links)."""
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
"""Events that can change a policy (opening or reading a file cannot)."""


def is_policy_path(policy_dir: Path, path: str, is_directory: bool) -> bool:
    """Whether a change at ``path`` can change the policy read from ``policy_dir``.

    Policy files and folders count; so do names starting with ``..`` at any depth (the
    links and folders of a Kubernetes ConfigMap); the ``tests/`` folder and other hidden
    names (``.git``, editor swap files) do not.
    """
    target = Path(path)
    if target == policy_dir:
        return True
    try:
        parts = target.relative_to(policy_dir).parts
    except ValueError:
        return False
    if parts[0] == TESTS_FOLDER:
        return False
    if any(part.startswith("..") for part in parts):
        return True
    if any(part.startswith(".") for part in parts):
        return False
    return is_directory or target.suffix in POLICY_SUFFIXES


class PathWatch:
    """File-system event watches on the folder holding ``path`` and, recursively, on where
    ``path`` leads (it may be a link), for ``handler``, armed afresh when ``path`` leads
    somewhere else; and a thread (``name``) calling ``look`` every ``poll`` seconds, the
    backstop for what events miss (a folder that cannot be watched among them)."""

    def __init__(
        self,
        path: Path,
        handler: FileSystemEventHandler,
        look: Callable[[], None],
        poll: float,
        name: str,
    ) -> None:
        self.path = path
        self.target = ""
        """Where ``path`` led when the watches were last armed."""
        self.watching = False
        """Whether events come from everything under :attr:`target` (links aside)."""
        self.look = look
        self.poll = poll
        self._stopping = threading.Event()
        self._handler = handler
        self._observer = Observer()
        self._watches: list[ObservedWatch] = []
        self._lock = threading.Lock()
        self._poller = threading.Thread(target=self._poll, name=name, daemon=True)

    def moved(self) -> bool:
        """Whether ``path`` now leads elsewhere than where it is watched."""
        return os.path.realpath(self.path) != self.target

    def start(self) -> None:
        """Arm the watches, start delivering events, start polling."""
        self.arm()
        self._observer.start()
        self._poller.start()

    def stop(self) -> None:
        """Stop watching and polling."""
        self._stopping.set()
        with self._lock:
            self._observer.unschedule_all()
            self._watches = []
        self._observer.stop()
        self._observer.join(timeout=5)
        if self._poller.is_alive():
            self._poller.join(timeout=10)

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll):
            self.look()

    def arm(self) -> None:
        """Watch the folder holding ``path``, and where ``path`` leads, afresh."""
        with self._lock:
            if self._stopping.is_set():
                return
            for watch in self._watches:
                try:
                    self._observer.unschedule(watch)
                except KeyError:
                    log.debug("a watch was already gone")
            self._watches = []
            self.target = os.path.realpath(self.path)
            self._schedule(self.path.parent, recursive=False)
            self.watching = self._schedule(Path(self.target), recursive=True)

    def _schedule(self, folder: Path, recursive: bool) -> bool:
        """Watch ``folder`` if it is there (the poll covers it meanwhile if not); whether
        it is watched."""
        if not folder.is_dir():
            return False
        try:
            watch: ObservedWatch = self._observer.schedule(
                self._handler, str(folder), recursive=recursive, event_filter=WATCHED_EVENTS
            )
        except OSError as error:
            log.debug("cannot watch %s (%s); the poll covers it", folder, error)
            return False
        self._watches.append(watch)
        return True


class _Handler(FileSystemEventHandler):
    """Passes the events that concern the policy to the watcher."""

    def __init__(self, watcher: PolicyWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Ask for a reload when ``event`` can change the policy."""
        paths = [event.src_path, getattr(event, "dest_path", "")]
        found = [p if isinstance(p, str) else p.decode() for p in paths if p]
        if any(self.watcher.concerns(path, event.is_directory) for path in found):
            self.watcher.changed()


class PolicyWatcher:
    """Asks ``request`` for a reload whenever the policy at ``policy_path`` may have
    changed (see the module docstring)."""

    def __init__(
        self, policy_path: Path, request: Callable[[], None], poll: float = POLL_SECONDS
    ) -> None:
        self.policy_path = Path(os.path.abspath(policy_path))
        self.request = request
        self.poll = poll
        self._watch = PathWatch(self.policy_path, _Handler(self), self._look, poll, "policy-poll")
        self._stamps = file_stamps(self.policy_path)

    def start(self) -> None:
        """Start watching and polling."""
        self._watch.start()

    def stop(self) -> None:
        """Stop watching and polling."""
        self._watch.stop()

    def concerns(self, path: str, is_directory: bool) -> bool:
        """Whether a change at ``path`` concerns the policy (as given or as resolved)."""
        if Path(path) == self.policy_path:
            return True
        return is_policy_path(Path(self._watch.target), path, is_directory)

    def changed(self) -> None:
        """Something changed: re-arm if ``--policy`` leads elsewhere now; reload.

        The stamps are taken afresh, so that the poll does not ask again for a change an
        event already reported.
        """
        if self._watch.moved():
            self._watch.arm()
        with contextlib.suppress(OSError):
            self._stamps = file_stamps(self.policy_path)
        self.request()

    def on_reload(self, outcome: ReloadOutcome, serving: Revision | None) -> None:
        """Coordinator subscriber: re-arm when ``--policy`` leads somewhere new."""
        if self._watch.moved():
            self._watch.arm()

    def _look(self) -> None:
        """The poll: reload when the files' stamps changed."""
        try:
            stamps = file_stamps(self.policy_path)
        except OSError:
            return
        if stamps != self._stamps:
            self.changed()
