"""A folder of schools: one policy per subfolder, and an optional shared ``trust/`` layer.

A multi-academy trust (or a provider) keeps every school's policy in one folder::

    policies/
      trust/            # optional: users, user groups and alert groups every school may name
      northfield/       # one school's policy, with its own tests/
      riverside/

Each school's revision is read as one :class:`PolicySource` labelled with the folder of
schools, holding the school's files under ``<school>/`` and the trust layer's under
``trust/`` (so ``policies/trust/users.yaml:4:3`` names a trust file wherever it is
reported).  A school's ``tests/`` folder is not policy, as in a policy directory.  What the
trust layer may define is checked when the policy is built (:attr:`PolicySource.shared`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.load.files import (
    PolicySource,
    git_state,
    is_folder,
    is_policy_file,
    label_of,
    read_directory,
)
from alertpolicy.engine.load.git import (
    POLICY_PATH_MISSING,
    path_in_repository,
    read_blobs,
    repository_of,
    resolve_commit,
    tree_files,
)
from alertpolicy.engine.load.gitrun import run_git

T = TypeVar("T")

TRUST_FOLDER = "trust"
"""The shared layer's folder in a folder of schools (never a school)."""
SCHOOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What a school's folder may be called: it is part of the school's URL."""


def school_folders(policies: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The schools in ``policies`` (sorted), and the folders there that cannot be schools
    because of their names (hidden folders are neither).

    Raises :class:`PolicyError` when ``policies`` is not a readable folder.
    """
    try:
        entries = sorted(os.scandir(policies), key=lambda entry: entry.name)
    except OSError as error:
        message = f"folder of schools {label_of(policies)} cannot be read: {error.strerror}"
        raise PolicyError([Problem("policies-dir-missing", message)]) from error
    schools: list[str] = []
    misnamed: list[str] = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name == TRUST_FOLDER or not is_folder(entry):
            continue
        (schools if SCHOOL_NAME.match(entry.name) else misnamed).append(entry.name)
    return tuple(schools), tuple(misnamed)


def school_names(files: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The schools among the paths of ``files`` (relative to the folder of schools), and
    the folders that cannot be schools because of their names, as :func:`school_folders`."""
    folders = {path.split("/", 1)[0] for path in files if "/" in path}
    folders = {f for f in folders if not f.startswith(".") and f != TRUST_FOLDER}
    schools = sorted(f for f in folders if SCHOOL_NAME.match(f))
    return tuple(schools), tuple(sorted(folders - set(schools)))


def unknown_school(school: str, known: tuple[str, ...], where: str) -> Problem:
    """The problem of a school name that is not in the folder of schools."""
    close = [name for name in known if name.casefold() == school.casefold()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return Problem("unknown-school", f"no school {school!r} in {where}{hint}", value=school)


def school_files(files: Mapping[str, T], school: str) -> dict[str, T]:
    """The policy files of ``school`` and of the trust layer among ``files`` (paths
    relative to the folder of schools), each read as in a policy directory of its own."""
    return {path: data for path, data in files.items() if _layer_of(path) in (school, TRUST_FOLDER)}


def school_layers(files: Mapping[str, T]) -> dict[str, dict[str, T]]:
    """The policy files among ``files`` by the folder they are in (a school's, the trust
    layer's), so that each school's are found without looking at every other school's."""
    layers: dict[str, dict[str, T]] = {}
    for path, data in files.items():
        layer = _layer_of(path)
        if layer is not None:
            layers.setdefault(layer, {})[path] = data
    return layers


def _layer_of(path: str) -> str | None:
    """The folder (school or trust layer) whose policy file ``path`` is, or ``None``."""
    folder, _, inside = path.partition("/")
    return folder if inside and is_policy_file(inside) else None


def read_school(policies: Path, school: str, *, with_git: bool = True) -> PolicySource:
    """The revision of ``school`` on disk: its folder and the trust layer, if any, and
    (unless ``with_git`` is false) the git commit they are at.

    Raises :class:`PolicyError` as a policy directory read does (the school's folder
    missing or holding no policy file, an unreadable file, a link cycle).
    """
    label = label_of(policies)
    if not SCHOOL_NAME.match(school) or school == TRUST_FOLDER:
        raise PolicyError([unknown_school(school, (), label)])
    own = read_directory(policies / school, with_git=False)
    files = {f"{school}/{path}": data for path, data in own.files.items()}
    layers = [school]
    if (policies / TRUST_FOLDER).is_dir():
        try:
            trust = read_directory(policies / TRUST_FOLDER, with_git=False).files
        except PolicyError as error:
            if any(p.code != "empty-policy" for p in error.problems):
                raise
            trust = {}  # a trust folder holding no policy file is no layer
        files.update({f"{TRUST_FOLDER}/{path}": data for path, data in trust.items()})
        layers.append(TRUST_FOLDER)
    git = git_state(policies, tuple(layers)) if with_git else None
    return PolicySource(label=label, files=files, git=git, shared=f"{TRUST_FOLDER}/")


def school_source(
    label: str, files: Mapping[str, bytes], school: str, git: str | None
) -> PolicySource:
    """The revision of ``school`` among ``files`` (the folder of schools read elsewhere,
    e.g. from git), as :func:`read_school` reads it from disk."""
    chosen = school_files(files, school)
    if not any(path.startswith(f"{school}/") for path in chosen):
        message = f"{label}/{school} holds no policy file (*.yaml or *.yml)"
        raise PolicyError([Problem("empty-policy", message)])
    return PolicySource(label=label, files=chosen, git=git, shared=f"{TRUST_FOLDER}/")


def read_school_git(repo_dir: Path, rev: str, subpath: str, school: str) -> PolicySource:
    """``school`` of the folder of schools at ``subpath`` (relative to the repository
    top) as of ``rev``, read straight from git objects (as :func:`~.git.read_git` reads a
    policy).  Raises :class:`PolicyError` (``policy-path-missing``) when the school or
    the folder of schools is not there at that revision."""
    commit = resolve_commit(repo_dir, rev)
    label = f"{rev}:{subpath}" if subpath else f"{rev}:"
    spec = f"{commit}:{subpath}" if subpath else f"{commit}^{{tree}}"
    try:
        kind = run_git(repo_dir, "cat-file", "-t", spec).decode().strip()
    except PolicyError:
        kind = ""
    blobs = school_files(tree_files(repo_dir, spec), school) if kind == "tree" else {}
    if not any(path.startswith(f"{school}/") for path in blobs):
        message = f"{subpath or '.'}/{school} is not a school at revision {rev} ({commit[:12]})"
        raise PolicyError([Problem(POLICY_PATH_MISSING, message)])
    paths = sorted(blobs)
    files = dict(zip(paths, read_blobs(repo_dir, [blobs[p] for p in paths]), strict=True))
    return school_source(label, files, school, commit[:12])


def resolve_school_side(side: str | None, policies: Path, school: str) -> PolicySource:
    """One side of a comparison of ``school``, as :func:`~.git.resolve_side` resolves a
    policy's: ``None`` is the folder of schools ``policies`` on disk, an existing folder
    is another folder of schools, anything else a git revision of the repository holding
    ``policies``."""
    if side is None:
        return read_school(policies, school)
    if Path(side).is_dir():
        return read_school(Path(side), school)
    top = repository_of(policies)
    return read_school_git(top, side, path_in_repository(top, policies), school)
