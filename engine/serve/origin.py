"""Where a coordinator's revisions come from: a directory, a school in a folder of
schools, or either of those in a git repository.

An origin reads the files of the revision it holds now (:meth:`Origin.read`), names
itself for the state directory (:attr:`Origin.key`) and says how its paths are shown
(:attr:`Origin.label`).  A git origin reads the commit its mirror fetched last
(:mod:`alertpolicy.engine.load.mirror`), straight from git objects: one read is one
whole commit.  A revision read from git names the newest commit that changed the policy
(for a school: its folder or the trust layer), so a commit elsewhere in the repository
changes nothing, and every replica names the same revision the same way.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.load.files import PolicySource, read_directory
from alertpolicy.engine.load.git import last_change, last_changes, read_blobs, read_git, tree_files
from alertpolicy.engine.load.mirror import GitMirror
from alertpolicy.engine.load.schools import (
    TRUST_FOLDER,
    read_school,
    school_layers,
    school_names,
    school_source,
)


class Origin(Protocol):
    """Where the revisions of one policy come from."""

    @property
    def key(self) -> str:
        """Names the policy in the state directory (stable across restarts)."""

    @property
    def label(self) -> str:
        """How the policy's paths are shown (``policy``, ``main:policy``)."""

    def read(self) -> PolicySource:
        """The files of the revision there now; :class:`PolicyError` if unreadable."""


@dataclass(frozen=True)
class DirectoryOrigin:
    """A policy directory on disk (a link to one is followed at every read)."""

    path: Path

    @property
    def key(self) -> str:
        """The directory's absolute path."""
        return os.path.abspath(self.path)

    @property
    def label(self) -> str:
        """The path as given."""
        return self.path.as_posix().rstrip("/") or "."

    def read(self) -> PolicySource:
        """Every policy file in the directory now."""
        return dataclasses.replace(read_directory(self.path), label=self.label)


@dataclass(frozen=True)
class SchoolOrigin:
    """One school in a folder of schools on disk (its folder and the trust layer)."""

    policies: Path
    school: str
    with_git: bool = False
    """Whether the folder of schools is in a git work tree (then its commit is named)."""

    @property
    def key(self) -> str:
        """The school's folder, absolute."""
        return os.path.join(os.path.abspath(self.policies), self.school)

    @property
    def label(self) -> str:
        """The folder of schools as given."""
        return self.policies.as_posix().rstrip("/") or "."

    def read(self) -> PolicySource:
        """The school's files and the trust layer's, now."""
        source = read_school(self.policies, self.school, with_git=self.with_git)
        return dataclasses.replace(source, label=self.label)


def _subpath(path: Path | str) -> str:
    """A folder inside a repository, as git names it (``""`` for the top)."""
    posix = PurePosixPath(str(path)).as_posix().strip("/")
    return "" if posix == "." else posix


class GitOrigin:
    """One policy folder (``subpath``) of the commit ``mirror`` fetched last."""

    def __init__(self, mirror: GitMirror, subpath: Path | str) -> None:
        self.mirror = mirror
        self.subpath = _subpath(subpath)

    @property
    def key(self) -> str:
        """Repository, ref and folder."""
        return f"git:{self.mirror.url}@{self.mirror.ref}:{self.subpath}"

    @property
    def label(self) -> str:
        """``<ref>:<folder>``, as ``diff`` shows a git revision."""
        return f"{self.mirror.ref}:{self.subpath}"

    def read(self) -> PolicySource:
        """The policy folder as of the commit fetched last."""
        commit = _fetched(self.mirror)
        source = read_git(self.mirror.folder, commit, self.subpath)
        changed = last_change(self.mirror.folder, commit, [self.subpath])
        return dataclasses.replace(source, label=self.label, git=changed[:12])


SNAPSHOTS_KEPT = 2
"""Commits of a folder of schools kept listed: the one fetched last and the one before,
so that comparing them on a new commit lists each once."""


class _Snapshot:
    """A folder of schools at one commit: its policy files (path -> blob id) by school
    or trust layer, and (made when first asked) the newest commit that changed each
    school or the trust layer."""

    def __init__(self, mirror: GitMirror, subpath: str, commit: str) -> None:
        self.mirror = mirror
        self.subpath = subpath
        self.commit = commit
        base = f"{commit}:{subpath}" if subpath else f"{commit}^{{tree}}"
        self.blobs = tree_files(mirror.folder, base)
        self.layers = school_layers(self.blobs)
        self._changed: dict[str, str] | None = None
        self._lock = threading.Lock()

    def files(self, school: str) -> dict[str, str]:
        """The files ``school`` reads (its own and the trust layer's) -> blob ids."""
        return {**self.layers.get(school, {}), **self.layers.get(TRUST_FOLDER, {})}

    def changed(self, school: str) -> str:
        """The newest commit up to this one that changed ``school`` or the trust layer."""
        with self._lock:
            if self._changed is None:
                self._changed = last_changes(
                    self.mirror.folder, self.commit, self.subpath, TRUST_FOLDER, self.blobs
                )
        return self._changed.get(school, self.commit)


class GitSchools:
    """A folder of schools (``subpath``) in the commit ``mirror`` fetched last; each
    commit is listed once, whatever number of schools read it."""

    def __init__(self, mirror: GitMirror, subpath: Path | str) -> None:
        self.mirror = mirror
        self.subpath = _subpath(subpath)
        self.label = f"{mirror.ref}:{self.subpath}"
        self._snapshots: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()

    def snapshot(self, commit: str | None = None) -> _Snapshot:
        """The folder of schools at ``commit`` (default: the commit fetched last)."""
        commit = commit or _fetched(self.mirror)
        with self._lock:
            found = self._snapshots.pop(commit, None)
            if found is None:
                found = _Snapshot(self.mirror, self.subpath, commit)
            self._snapshots[commit] = found  # the newest last
            while len(self._snapshots) > SNAPSHOTS_KEPT:
                del self._snapshots[next(iter(self._snapshots))]
            return found

    def schools(self, commit: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The schools at ``commit`` and the folders misnamed to be schools."""
        return school_names(self.snapshot(commit).blobs)

    def changed_schools(self, schools: Iterable[str], before: str, commit: str) -> list[str]:
        """Those of ``schools`` whose files (their own or the trust layer's) differ
        between the commits ``before`` and ``commit``."""
        old, new = self.snapshot(before), self.snapshot(commit)
        return [name for name in schools if old.files(name) != new.files(name)]

    def read(self, school: str) -> PolicySource:
        """The revision of ``school`` in the commit fetched last."""
        snapshot = self.snapshot()
        chosen = snapshot.files(school)
        paths = sorted(chosen)
        contents = read_blobs(self.mirror.folder, [chosen[path] for path in paths])
        files = dict(zip(paths, contents, strict=True))
        return school_source(self.label, files, school, snapshot.changed(school)[:12])

    def origin(self, school: str) -> GitSchoolOrigin:
        """The origin of one of the schools."""
        return GitSchoolOrigin(self, school)


@dataclass(frozen=True)
class GitSchoolOrigin:
    """One school of a folder of schools in git."""

    schools: GitSchools
    school: str

    @property
    def key(self) -> str:
        """Repository, ref, folder of schools and school."""
        mirror = self.schools.mirror
        return f"git:{mirror.url}@{mirror.ref}:{self.schools.subpath}/{self.school}"

    @property
    def label(self) -> str:
        """``<ref>:<folder of schools>``."""
        return self.schools.label

    def read(self) -> PolicySource:
        """The school's files and the trust layer's, as of the commit fetched last."""
        return self.schools.read(self.school)


def _fetched(mirror: GitMirror) -> str:
    commit = mirror.fetched()
    if commit is None:
        message = f"{mirror.shown} has not been fetched yet"
        raise PolicyError([Problem("git-not-fetched", message)])
    return commit
