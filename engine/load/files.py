"""Where a policy's files come from: a directory on disk (or, elsewhere, a git revision).

A :class:`PolicySource` is the raw material of one policy revision: every policy file's
bytes keyed by its path inside the policy directory, the label used to show those paths
to people, and the git commit the directory was at (if it is in git).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alertpolicy.engine.errors import Location, PolicyError, Problem
from alertpolicy.engine.model import frozen_map

POLICY_SUFFIXES = (".yaml", ".yml")
TESTS_FOLDER = "tests"
"""The subfolder at the policy root holding the policy's own test cases, not policy."""


@dataclass(frozen=True)
class PolicySource:
    """The files of one policy revision.

    ``label`` prefixes displayed paths (``policy`` or ``HEAD~1:policy``); ``files`` maps
    each file's posix path relative to the policy root to its raw bytes; ``git`` is the
    12-hex commit the files came from, with ``+dirty`` when the work tree had changes.
    """

    label: str
    files: Mapping[str, bytes] = field(default_factory=frozen_map)
    git: str | None = None

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


def read_directory(path: Path) -> PolicySource:
    """Read every policy file (``*.yaml``/``*.yml``) under ``path``, subfolders included.

    The ``tests/`` folder at the policy root and hidden files/folders are left out.
    Raises :class:`PolicyError` when ``path`` is not a directory or holds no policy file.
    """
    label = os.path.relpath(path).replace(os.sep, "/")
    if not path.is_dir():
        raise PolicyError(
            [Problem("policy-dir-missing", f"policy directory {label} does not exist")]
        )
    files: dict[str, bytes] = {}
    unreadable: list[Problem] = []
    for file in path.rglob("*"):
        relpath = file.relative_to(path).as_posix()
        parts = relpath.split("/")
        if parts[0] == TESTS_FOLDER and len(parts) > 1:
            continue
        if any(part.startswith(".") for part in parts):
            continue
        if file.suffix not in POLICY_SUFFIXES or file.is_dir():
            continue
        try:
            files[relpath] = file.read_bytes()
        except OSError as error:
            unreadable.append(_unreadable(f"{label}/{relpath}", error))
    if unreadable:
        raise PolicyError(unreadable)
    if not files:
        raise PolicyError(
            [
                Problem(
                    "empty-policy",
                    f"policy directory {label} holds no policy file (*.yaml or *.yml)",
                )
            ]
        )
    return PolicySource(label=label, files=files, git=git_state(path))


def _unreadable(shown: str, error: OSError) -> Problem:
    """A policy file that exists (or is linked to) but cannot be read: never skipped."""
    return Problem(
        "policy-file-unreadable",
        f"cannot read {shown}: {error.strerror or error}",
        Location(shown, 1, 1),
    )


def git_state(path: Path) -> str | None:
    """The 12-hex commit of the git work tree holding ``path``, ``+dirty`` if changed.

    ``None`` when git is not installed, ``path`` is not in a work tree, or there is no
    commit yet. "Dirty" means a file under ``path`` differs from the commit (or is new).
    """
    head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD")
    if not head:
        return None
    status = _git(path, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return head[:12] + ("+dirty" if status else "")


def _git(path: Path, *args: str) -> str | None:
    """Output of ``git -C path args`` stripped, or ``None`` if git failed or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
