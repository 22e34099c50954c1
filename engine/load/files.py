"""Which files are policy, and reading them from a directory on disk.

A :class:`PolicySource` is the raw material of one policy revision: every policy file's
bytes keyed by its path inside the policy directory, the label used to show those paths
to people, and the git commit the directory was at (if it is in git).

A policy directory is read the way deployments lay it out: linked files and linked
subfolders are read like real ones (a Kubernetes ConfigMap links every file through a
``..data`` folder; a release may link a shared folder in), and a link that leads back
into a folder it is inside is an error naming it.  Files that look like policy but are
not read (``rules.YAML``, ``users.yml.bak``, YAML in a hidden folder) are reported by
:func:`unread_lookalikes`, so that ``check`` can warn about them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alertpolicy.engine.errors import Location, PolicyError, Problem
from alertpolicy.engine.load.gitrun import run_git
from alertpolicy.engine.model import frozen_map

POLICY_SUFFIXES = (".yaml", ".yml")
TESTS_FOLDER = "tests"
"""The subfolder at the policy root holding the policy's own test cases, not policy."""
TOOL_FOLDERS = frozenset({".git", ".github"})
"""Hidden folders that hold other tools' files, never policy (no warning about them)."""

FileStamp = tuple[str, int, int, int, int]
"""(path inside the policy, device, inode, modification time in ns, size) of one file."""


@dataclass(frozen=True)
class PolicySource:
    """The files of one policy revision.

    ``label`` prefixes displayed paths (``policy`` or ``HEAD~1:policy``); ``files`` maps
    each file's posix path relative to the policy root to its raw bytes; ``git`` is the
    12-hex commit the files came from, with ``+dirty`` when the work tree had changes;
    ``shared`` is the path prefix of the files of a layer several policies share (a
    trust's ``trust/``, see :mod:`.schools`), ``None`` when there is none.
    """

    label: str
    files: Mapping[str, bytes] = field(default_factory=frozen_map)
    git: str | None = None
    shared: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", frozen_map(self.files))

    def display_path(self, relpath: str) -> str:
        """The path of one of the files as shown in messages (``policy/users.yaml``)."""
        if self.label in ("", "."):
            return relpath
        if self.label.endswith(("/", ":")):
            return f"{self.label}{relpath}"
        return f"{self.label}/{relpath}"


def revision_of(source: PolicySource) -> str:
    """The revision string of a policy: content hash, plus the git commit when known.

    ``sha256:<16 hex>`` is computed over the sorted (path, bytes) pairs, so it changes
    whenever any file's name or content changes and never otherwise.
    """
    digest = hashlib.sha256()
    for path in sorted(source.files):
        data = source.files[path]
        digest.update(path.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0")
        digest.update(data)
    revision = f"sha256:{digest.hexdigest()[:16]}"
    if source.git:
        revision += f" git:{source.git}"
    return revision


def is_policy_file(relpath: str) -> bool:
    """Whether the file at ``relpath`` (posix, inside the policy directory) is policy.

    ``*.yaml`` and ``*.yml`` files in any subfolder, except the ``tests/`` folder at the
    root and hidden files and folders (names starting with a dot).
    """
    parts = relpath.split("/")
    if parts[0] == TESTS_FOLDER and len(parts) > 1:
        return False
    if any(part.startswith(".") for part in parts):
        return False
    return os.path.splitext(parts[-1])[1] in POLICY_SUFFIXES


def label_of(path: Path) -> str:
    """How ``path`` is shown to people: relative to the working directory, posix."""
    return os.path.relpath(path).replace(os.sep, "/")


def read_directory(path: Path, *, with_git: bool = True) -> PolicySource:
    """Read every policy file (see :func:`is_policy_file`) under ``path``, and (unless
    ``with_git`` is false) the git commit it is at.

    Linked files and folders are followed.  Raises :class:`PolicyError` when ``path`` is
    not a directory, holds no policy file, has a file that cannot be read, or a link
    cycle.
    """
    label = label_of(path)
    if not path.is_dir():
        raise PolicyError(
            [Problem("policy-dir-missing", f"policy directory {label} does not exist")]
        )
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    for relpath, entry in _walk(path, label, problems):
        if not is_policy_file(relpath):
            continue
        try:
            files[relpath] = entry.read_bytes()
        except OSError as error:
            problems.append(_unreadable(f"{label}/{relpath}", error))
    if problems:
        raise PolicyError(problems)
    if not files:
        raise PolicyError(
            [
                Problem(
                    "empty-policy",
                    f"policy directory {label} holds no policy file (*.yaml or *.yml)",
                )
            ]
        )
    return PolicySource(label=label, files=files, git=git_state(path) if with_git else None)


def file_stamps(path: Path) -> tuple[str, tuple[FileStamp, ...], tuple[str, ...]]:
    """Where ``path`` leads (links resolved), a stamp of each policy file under it, and
    where the folders cannot be read (a link cycle).

    Two equal answers mean nothing a reload would read has changed: a swapped link, a
    replaced, edited, added or removed file, a new link cycle each change it.  Cheap
    enough to poll.
    """
    stamps: list[FileStamp] = []
    problems: list[Problem] = []
    for relpath, entry in _walk(path, label_of(path), problems):
        if not is_policy_file(relpath):
            continue
        try:
            info = entry.stat()
        except OSError:
            stamps.append((relpath, -1, -1, -1, -1))
            continue
        stamps.append((relpath, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size))
    unread = tuple(sorted(f"{p.code} {p.location}" for p in problems))
    return os.path.realpath(path), tuple(sorted(stamps)), unread


def unread_lookalikes(path: Path) -> tuple[Problem, ...]:
    """A warning for each file under ``path`` that looks like policy but is not read.

    ``rules.YAML`` (the suffix in another case), ``users.yml.bak`` (a policy suffix
    followed by more), and YAML files that are hidden or in a hidden folder.
    """
    label = label_of(path)
    found: list[Problem] = []
    for relpath, _entry in _walk(path, label, [], hidden=True):
        message = _lookalike(relpath)
        if message:
            shown = f"{label}/{relpath}"
            found.append(
                Problem(
                    "policy-file-not-read",
                    f"{shown} is not read: {message}",
                    Location(shown, 1, 1),
                    severity="warning",
                    value=relpath,
                )
            )
    return tuple(sorted(found, key=Problem.sort_key))


def _lookalike(relpath: str) -> str | None:
    """Why the file at ``relpath`` looks like policy yet is not read, or ``None``."""
    parts = relpath.split("/")
    if parts[0] == TESTS_FOLDER and len(parts) > 1:
        return None
    name = parts[-1]
    lowered = name.lower()
    suffix = os.path.splitext(lowered)[1]
    if name.startswith(".#") or any(p in TOOL_FOLDERS or p.startswith("..") for p in parts):
        return None
    hidden = [p for p in parts if p.startswith(".")]
    if hidden and suffix in POLICY_SUFFIXES:
        where = "it is hidden" if hidden == [name] else f"it is in the hidden folder {hidden[0]}"
        return f"{where}, and hidden files and folders are not policy"
    if hidden:
        return None
    if suffix in POLICY_SUFFIXES and os.path.splitext(name)[1] not in POLICY_SUFFIXES:
        return (
            f"only files ending in .yaml or .yml (lower case) are policy; rename it to "
            f"{os.path.splitext(name)[0]}{suffix} if it is"
        )
    if any(f"{s}." in lowered or lowered.endswith(f"{s}~") for s in POLICY_SUFFIXES):
        return (
            "only files ending in .yaml or .yml are policy; rename it if it is policy, "
            "or move it out of the policy folder if it is a copy"
        )
    return None


def _walk(
    root: Path, label: str, problems: list[Problem], hidden: bool = False
) -> Iterator[tuple[str, Path]]:
    """(path inside ``root``, path) of every file under ``root``, links followed.

    Hidden folders are entered only when ``hidden`` is set; ``tests/`` at the root never.
    A folder that leads back to one it is inside adds a ``policy-link-cycle`` problem.
    """
    try:
        top = root.stat()
    except OSError:
        return
    stack: list[tuple[Path, str, tuple[tuple[int, int], ...]]] = [
        (root, "", ((top.st_dev, top.st_ino),))
    ]
    while stack:
        folder, prefix, inside = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            problems.append(_unreadable(f"{label}/{prefix}".rstrip("/"), error))
            continue
        for entry in entries:
            relpath = prefix + entry.name
            if is_folder(entry):
                if (not hidden and entry.name.startswith(".")) or relpath == TESTS_FOLDER:
                    continue
                try:
                    info = os.stat(entry.path)
                except OSError as error:
                    problems.append(_unreadable(f"{label}/{relpath}", error))
                    continue
                key = (info.st_dev, info.st_ino)
                if key in inside:
                    problems.append(_cycle(label, relpath, entry.path))
                    continue
                stack.append((Path(entry.path), relpath + "/", (*inside, key)))
            else:
                yield relpath, Path(entry.path)


def is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder, or a link to one."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _cycle(label: str, relpath: str, path: str) -> Problem:
    """A linked folder that leads back to a folder it is inside."""
    shown = f"{label}/{relpath}"
    target = os.path.realpath(path)
    return Problem(
        "policy-link-cycle",
        f"{shown} links to {target}, a folder it is inside: a link cycle (remove or fix the link)",
        Location(shown, 1, 1),
        value=relpath,
    )


def _unreadable(shown: str, error: OSError) -> Problem:
    """A policy file that exists (or is linked to) but cannot be read: never skipped."""
    return Problem(
        "policy-file-unreadable",
        f"cannot read {shown}: {error.strerror or error}",
        Location(shown, 1, 1),
    )


def git_state(path: Path, inside: tuple[str, ...] = (".",)) -> str | None:
    """The 12-hex commit of the git work tree holding ``path``, ``+dirty`` if changed.

    ``None`` when git is not installed, ``path`` is not in a work tree, or there is no
    commit yet. "Dirty" means a file under ``path`` (or under the folders ``inside`` it,
    when given) differs from the commit (or is new).
    """
    head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD")
    if not head:
        return None
    status = _git(path, "status", "--porcelain", "--untracked-files=all", "--", *inside)
    return head[:12] + ("+dirty" if status else "")


def _git(path: Path, *args: str) -> str | None:
    """Output of ``git -C path args`` stripped, or ``None`` if git failed or is missing."""
    try:
        return run_git(path, *args, timeout=30).decode("utf-8", "replace").strip()
    except PolicyError:
        return None
