"""Noticing which schools of a folder of schools changed on disk.

As :mod:`.watcher` does for one policy, in two ways, for every school at once:

- file-system events (watchdog, one recursive watch on the folder of schools, one on the
  folder holding it), each traced to the school whose folder it is in — or to every
  school, for the trust layer — so that an edit reloads that school alone;
- a poll, every :data:`POLL_SECONDS`, of what events cannot see.  It stamps where the
  folder of schools leads and each school's folder (where a link leads, which folder,
  when its entries last changed), which finds a school added, removed or swapped by a
  link; it stamps a school's files only when its folder's stamp changed, or when events
  cannot follow the school (its folder, or anything in it, is a link, as in a ConfigMap's
  ``..data``).  Every school's files are stamped every :data:`SWEEP_SECONDS`, and at
  every poll while the folder of schools cannot be watched: the backstop for a file
  system whose events never come.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from alertpolicy.engine.load.files import FileStamp, file_stamps
from alertpolicy.engine.load.schools import TRUST_FOLDER
from alertpolicy.engine.serve.watcher import PathWatch, is_policy_path

POLL_SECONDS = 2.0
"""How often the school folders are stamped (the backstop for links and new schools)."""
SWEEP_SECONDS = 30.0
"""How often every school's files are stamped (the backstop for missing events)."""

FolderStamp = tuple[str, int, int, int]
"""Where a school's folder link leads (empty if not a link), its device, inode and the
time its entries last changed."""
FileStamps = tuple[str, tuple[FileStamp, ...], tuple[str, ...]]
"""What :func:`~alertpolicy.engine.load.files.file_stamps` says of a school's folder."""


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
        sweep: float = SWEEP_SECONDS,
    ) -> None:
        self.policies = Path(os.path.abspath(policies))
        self.schools = schools
        self.changed = changed
        self.refresh = refresh
        self.poll = poll
        self.sweep = sweep
        self._root = ""
        self._folders: dict[str, FolderStamp] = {}
        self._files: dict[str, FileStamps | None] = {}
        self._linked: set[str] = set()
        """Schools that events cannot follow: their files are stamped at every poll."""
        self._swept = 0.0
        self._lock = threading.Lock()
        self._watch = PathWatch(self.policies, _Handler(self), self.look, poll, "schools-poll")

    def start(self) -> None:
        """Take the first stamps, then watch and poll."""
        self._root = os.path.realpath(self.policies)
        self._folders = self._folder_stamps()
        self._stamp_files(self._folders)
        self._swept = time.monotonic()
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
        concerns = is_policy_path(target / folder, path, is_directory)
        if not concerns and Path(path) != target / folder and not os.path.islink(path):
            return
        self._stamp_files([folder])  # the poll need not report it again
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

    def _folder_stamps(self) -> dict[str, FolderStamp]:
        """A stamp of each folder in the folder of schools (hidden ones aside)."""
        stamps: dict[str, FolderStamp] = {}
        try:
            entries = os.scandir(self.policies)
        except OSError:
            return stamps
        with entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_dir():
                        info = entry.stat()
                        leads = os.path.realpath(entry.path) if entry.is_symlink() else ""
                        stamps[entry.name] = (leads, info.st_dev, info.st_ino, info.st_mtime_ns)
        return stamps

    def _stamp_files(self, names: Iterable[str]) -> set[str]:
        """Stamp the files of the schools ``names`` afresh; those whose stamps changed."""
        moved = set()
        for name in names:
            folder = self.policies / name
            try:
                stamps: FileStamps | None = file_stamps(folder)
            except OSError:
                stamps = None
            linked = folder.is_symlink() or _holds_links(folder)
            with self._lock:
                if stamps != self._files.get(name):
                    moved.add(name)
                self._files[name] = stamps
                if linked:
                    self._linked.add(name)
                else:
                    self._linked.discard(name)
        return moved

    def look(self) -> None:
        """The poll: tell what changed since the last look."""
        root = os.path.realpath(self.policies)
        folders = self._folder_stamps()
        before, self._folders = self._folders, folders
        if root != self._root:
            self._root = root
            self._stamp_files(folders)
            self._everything()
            return
        now = time.monotonic()
        if not self._watch.watching or now - self._swept >= self.sweep:
            self._swept = now
            looked = set(folders)
        else:
            with self._lock:
                linked = self._linked & set(folders)
            looked = {name for name in folders if folders[name] != before.get(name)} | linked
        moved = self._stamp_files(looked) | (set(before) - set(folders))
        with self._lock:
            for name in set(before) - set(folders):
                self._files.pop(name, None)
                self._linked.discard(name)
        if set(folders) - set(before):
            self.refresh()
        if TRUST_FOLDER in moved:
            self.changed(self.schools())
        elif moved:
            known = set(self.schools())
            self.changed(sorted(moved & known))


def _holds_links(folder: Path) -> bool:
    """Whether anything under ``folder`` is a link (file-system events do not follow one,
    nor see what it leads to change); hidden folders aside, but not ``..`` ones."""
    pending = [str(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        return True
                    hidden = entry.name.startswith(".") and not entry.name.startswith("..")
                    if not hidden and entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            return True  # cannot tell: stamp it at every poll
    return False
