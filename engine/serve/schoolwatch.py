"""Noticing which schools of a folder of schools changed on disk.

As :mod:`.watcher` does for one policy, in two ways, for every school at once:

- file-system events (watchdog, one recursive watch on the folder of schools, one on the
  folder holding it), each traced to the school whose folder it is in — or to every
  school, for the trust layer — so that an edit reloads that school alone;
- a poll, every :data:`POLL_SECONDS`, of where the folder of schools leads and a stamp
  of every policy file of every school, which catches what events cannot (linked
  folders, a link swapped, a file system without events) and finds new schools.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from alertpolicy.engine.load.files import file_stamps
from alertpolicy.engine.load.schools import TRUST_FOLDER
from alertpolicy.engine.serve.watcher import PathWatch, is_policy_path

POLL_SECONDS = 2.0
"""How often every school's files are stamped (the backstop for links and new schools)."""

Stamps = dict[str, object]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: SchoolsWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Pass the event's paths to the watcher."""
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                text = path if isinstance(path, str) else path.decode()
                self.watcher.event(text, event.is_directory)


class SchoolsWatcher:
    """Tells ``changed`` the schools whose files may have changed, and ``refresh`` when
    schools may have been added (see the module docstring)."""

    def __init__(
        self,
        policies: Path,
        schools: Callable[[], tuple[str, ...]],
        changed: Callable[[Iterable[str]], None],
        refresh: Callable[[], object],
        poll: float = POLL_SECONDS,
    ) -> None:
        self.policies = Path(os.path.abspath(policies))
        self.schools = schools
        self.changed = changed
        self.refresh = refresh
        self.poll = poll
        self._stamps: Stamps = {}
        self._watch = PathWatch(self.policies, _Handler(self), self._look, poll, "schools-poll")

    def start(self) -> None:
        """Take the first stamps, then watch and poll."""
        self._stamps = self._stamp_all()
        self._watch.start()

    def stop(self) -> None:
        """Stop watching and polling."""
        self._watch.stop()

    def event(self, path: str, is_directory: bool) -> None:
        """A file-system event at ``path``: reload the school it is in (or every school)."""
        target = Path(self._watch.target)
        if Path(path) == self.policies or self._watch.moved():
            self._everything()
            return
        try:
            folder = Path(path).relative_to(target).parts[0]
        except (ValueError, IndexError):
            return
        if not is_policy_path(target / folder, path, is_directory) and Path(path) != (
            target / folder
        ):
            return
        with contextlib.suppress(OSError):  # the poll need not report it again
            self._stamps[folder] = file_stamps(target / folder)
        if folder == TRUST_FOLDER:
            self.changed(self.schools())
        elif folder in self.schools():
            self.changed([folder])
        elif not folder.startswith("."):
            self.refresh()

    def _everything(self) -> None:
        """The folder of schools leads somewhere else: re-arm, look for schools, reload all."""
        self._watch.arm()
        self.refresh()
        self.changed(self.schools())

    def _stamp_all(self) -> Stamps:
        """Where the folder of schools leads, and a stamp of each folder in it."""
        stamps: Stamps = {"": os.path.realpath(self.policies)}
        try:
            entries = sorted(os.scandir(self.policies), key=lambda entry: entry.name)
        except OSError:
            return stamps
        for entry in entries:
            if entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir():
                    stamps[entry.name] = file_stamps(Path(entry.path))
        return stamps

    def _look(self) -> None:
        """The poll: tell what changed since the last stamps."""
        stamps = self._stamp_all()
        before, self._stamps = self._stamps, stamps
        if stamps[""] != before.get(""):
            self._everything()
            return
        if set(stamps) - set(before):
            self.refresh()
        moved = {
            name for name in stamps.keys() | before.keys() if stamps.get(name) != before.get(name)
        }
        if TRUST_FOLDER in moved:
            self.changed(self.schools())
        elif moved - {""}:
            known = set(self.schools())
            self.changed(sorted(moved & known))
