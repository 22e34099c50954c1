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
    school_files,
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


@dataclass(frozen=True)
class _Snapshot:
    """A folder of schools at one commit: its files (path -> blob id) and, per school,
    the newest commit that changed it or the trust layer."""

    commit: str
    blobs: dict[str, str]
    changed: dict[str, str]


class GitSchools:
    """A folder of schools (``subpath``) in the commit ``mirror`` fetched last; each
    commit is listed once, whatever number of schools read it."""

    def __init__(self, mirror: GitMirror, subpath: Path | str) -> None:
        self.mirror = mirror
        self.subpath = _subpath(subpath)
        self.label = f"{mirror.ref}:{self.subpath}"
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self, commit: str | None = None) -> _Snapshot:
        """The folder of schools at ``commit`` (default: the commit fetched last)."""
        commit = commit or _fetched(self.mirror)
        with self._lock:
            if self._snapshot is None or self._snapshot.commit != commit:
                base = f"{commit}:{self.subpath}" if self.subpath else f"{commit}^{{tree}}"
                blobs = tree_files(self.mirror.folder, base)
                changed = last_changes(self.mirror.folder, commit, self.subpath, TRUST_FOLDER)
                self._snapshot = _Snapshot(commit, blobs, changed)
            return self._snapshot

    def schools(self, commit: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The schools at ``commit`` and the folders misnamed to be schools."""
        return school_names(self.snapshot(commit).blobs)

    def blob_ids(self, school: str, commit: str | None = None) -> dict[str, str]:
        """The files ``school`` reads (its own and the trust layer's) -> blob ids."""
        return school_files(self.snapshot(commit).blobs, school)

    def read(self, school: str) -> PolicySource:
        """The revision of ``school`` in the commit fetched last."""
        snapshot = self.snapshot()
        chosen = school_files(snapshot.blobs, school)
        paths = sorted(chosen)
        contents = read_blobs(self.mirror.folder, [chosen[path] for path in paths])
        files = dict(zip(paths, contents, strict=True))
        changed = snapshot.changed.get(school, snapshot.commit)[:12]
        return school_source(self.label, files, school, changed)

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
