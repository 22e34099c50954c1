"""Policy files read straight from git objects, and the resolver ``diff``/``replay`` use.

:func:`read_git` reads one revision of the policy without checking anything out: it asks
git for the commit (``rev-parse``), the tree under the policy path (``ls-tree``) and every
file's bytes through one ``cat-file --batch`` process, so the user's work tree and index
are never touched.  The file selection is the same as a directory read: ``*.yaml`` /
``*.yml`` in any subfolder, except the ``tests/`` folder at the policy root and hidden
files.  (Symbolic links, stored by git as the link text, and submodules are not policy
files and are left out.)

:func:`resolve_side` turns one side of a comparison into a :class:`PolicySource`: a
directory if one exists at that name, else a git revision of the repository holding the
policy.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import PolicySource, is_policy_file, read_directory
from alertpolicy.engine.load.gitrun import fail, run_git

BLOB_MODES = ("100644", "100755")
"""Regular files in a git tree (symbolic links are 120000, submodules 160000)."""


POLICY_PATH_MISSING = "policy-path-missing"
"""Problem code: the policy directory does not exist at a git revision."""


def resolve_commit(repo_dir: Path, rev: str) -> str:
    """The full commit id ``rev`` names; :class:`PolicyError` if it names no commit."""
    if rev.startswith("-"):
        raise fail("unknown-revision", f"{rev!r} is not a git revision")
    try:
        out = run_git(repo_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except PolicyError:
        out = b""
    commit = out.decode("ascii", "replace").strip()
    if not commit:
        raise fail(
            "unknown-revision",
            f"unknown revision {rev!r}: no such branch, tag or commit in {repo_dir}",
        )
    return commit


def _policy_tree(repo_dir: Path, commit: str, rev: str, subpath: str) -> str:
    """The id of the tree at ``subpath`` in ``commit``; :class:`PolicyError` if absent."""
    spec = f"{commit}:{subpath}" if subpath else f"{commit}^{{tree}}"
    try:
        tree = run_git(repo_dir, "rev-parse", "--verify", "--quiet", spec).decode().strip()
        kind = run_git(repo_dir, "cat-file", "-t", tree).decode().strip() if tree else ""
    except PolicyError:
        kind = ""
    if kind != "tree":
        raise fail(
            POLICY_PATH_MISSING,
            f"{subpath or '.'} is not a directory at revision {rev} ({commit[:12]})",
        )
    return tree


def tree_files(repo_dir: Path, tree: str) -> dict[str, str]:
    """Every regular file under ``tree`` (a tree id, or ``commit:path``): its path relative
    to that tree -> its blob id."""
    listing = run_git(repo_dir, "ls-tree", "-r", "-z", "--full-tree", tree)
    blobs: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, blob = meta.decode("ascii").split(" ")
        if kind == "blob" and mode in BLOB_MODES:
            blobs[raw_path.decode("utf-8", "surrogateescape")] = blob
    return blobs


def _policy_blobs(repo_dir: Path, tree: str) -> dict[str, str]:
    """Policy file path (relative to the policy root) -> blob id, for one tree."""
    files = tree_files(repo_dir, tree)
    return {path: blob for path, blob in files.items() if is_policy_file(path)}


def read_blobs(repo_dir: Path, blob_ids: list[str]) -> list[bytes]:
    """The contents of ``blob_ids``, in order, from one ``git cat-file --batch`` process."""
    if not blob_ids:
        return []
    out = run_git(repo_dir, "cat-file", "--batch", stdin=("\n".join(blob_ids) + "\n").encode())
    contents: list[bytes] = []
    pos = 0
    for blob in blob_ids:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].decode("ascii").split(" ")
        if len(header) != 3 or header[0] != blob:
            raise fail("git-failed", f"git cat-file could not read object {blob}")
        size = int(header[2])
        start = header_end + 1
        contents.append(out[start : start + size])
        pos = start + size + 1
    return contents


def read_git(repo_dir: Path, rev: str, subpath: str) -> PolicySource:
    """Read the policy at ``subpath`` (relative to the repository top) as of ``rev``.

    The label is ``REV:SUBPATH`` (``HEAD~1:policy``), so messages read
    ``HEAD~1:policy/users.yaml:3:5: ...``; ``git`` is the commit's 12-hex id.  Raises
    :class:`PolicyError` for an unknown revision, a path absent at that revision, or a
    directory holding no policy file.
    """
    subpath = PurePosixPath(subpath).as_posix().strip("/")
    subpath = "" if subpath == "." else subpath
    commit = resolve_commit(repo_dir, rev)
    tree = _policy_tree(repo_dir, commit, rev, subpath)
    blobs = _policy_blobs(repo_dir, tree)
    label = f"{rev}:{subpath}" if subpath else f"{rev}:"
    if not blobs:
        raise fail(
            "empty-policy",
            f"{label} holds no policy file (*.yaml or *.yml) at revision {commit[:12]}",
        )
    paths = sorted(blobs)
    contents = read_blobs(repo_dir, [blobs[p] for p in paths])
    return PolicySource(label=label, files=dict(zip(paths, contents, strict=True)), git=commit[:12])


def last_change(repo_dir: Path, commit: str, paths: list[str]) -> str:
    """The newest commit, ``commit`` or one before it, that changed anything under
    ``paths`` (relative to the repository top; ``""`` is the whole tree): full id.

    It names a revision of those paths the same way on every machine and after every
    restart, whatever else the repository's later commits changed.
    """
    if any(path in ("", ".") for path in paths):
        return commit
    out = run_git(repo_dir, "rev-list", "-1", commit, "--", *paths).decode("ascii").strip()
    return out or commit


def last_changes(
    repo_dir: Path,
    commit: str,
    base: str,
    shared: str,
    listing: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """For each folder inside ``base`` (a path relative to the repository top, ``""`` for
    the top), the newest commit up to ``commit`` that changed it or the folder ``shared``
    beside it: folder name -> full commit id.  One walk of the history, stopped as soon
    as every folder has its commit.  ``listing`` is ``base``'s files at ``commit``
    (:func:`tree_files`), when the caller has them already."""
    base = base.strip("/")
    prefix = f"{base}/" if base else ""
    if listing is None:
        listing = tree_files(repo_dir, f"{commit}:{base}" if base else f"{commit}^{{tree}}")
    wanted = {path.split("/", 1)[0] for path in listing if "/" in path} - {shared}
    found: dict[str, str] = {}
    command = ["git", "-C", str(repo_dir), "log", "--format=%x01%H", "--name-only", "-z"]
    command += ["--no-renames", commit, "--", base or "."]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as log:
        assert log.stdout is not None
        current = commit
        for field in _fields(log.stdout):
            if field.startswith(b"\x01"):
                current = field[1:].decode("ascii")
                continue
            inside = field.decode("utf-8", "surrogateescape")[len(prefix) :]
            folder = inside.split("/", 1)[0] if "/" in inside else ""
            for name in (wanted if folder == shared else {folder} & wanted) - set(found):
                found[name] = current
            if len(found) == len(wanted):
                log.kill()
                break
    return {name: found.get(name, commit) for name in sorted(wanted)}


def _fields(stream: IO[bytes]) -> Iterator[bytes]:
    """The NUL-separated fields of ``git log -z`` output, blank lines left out."""
    pending = b""
    while chunk := stream.read(65536):
        *complete, pending = (pending + chunk).split(b"\0")
        yield from (field.strip(b"\n") for field in complete if field.strip(b"\n"))
    if pending.strip(b"\n"):
        yield pending.strip(b"\n")


def repository_of(policy_path: Path) -> Path:
    """The top of the git work tree holding ``policy_path`` (or the current directory)."""
    start = policy_path if policy_path.is_dir() else Path.cwd()
    try:
        out = run_git(start, "rev-parse", "--show-toplevel")
    except PolicyError as error:
        raise fail(
            "not-a-git-repository",
            f"{start} is not inside a git repository, so revisions cannot be read "
            f"(give policy directories instead)",
        ) from error
    return Path(out.decode("utf-8", "surrogateescape").strip())


def path_in_repository(repo_top: Path, policy_path: Path) -> str:
    """``policy_path`` (absolute, or relative to the current directory) inside ``repo_top``."""
    absolute = Path(os.path.abspath(policy_path))
    try:
        inside = absolute.resolve().relative_to(repo_top.resolve())
    except ValueError as error:
        raise fail(
            "policy-outside-repository",
            f"policy path {policy_path} is outside the git repository at {repo_top}",
        ) from error
    return inside.as_posix()


def resolve_side(side: str | None, policy_path: Path) -> PolicySource:
    """One side of a comparison as a :class:`PolicySource`.

    ``None`` is the working tree (the directory ``policy_path``); a name that is an
    existing directory is read as a directory; anything else is a git revision of the
    repository holding ``policy_path``, read at ``policy_path``'s place in it.
    """
    if side is None:
        return read_directory(policy_path)
    if Path(side).is_dir():
        return read_directory(Path(side))
    repo_top = repository_of(policy_path)
    return read_git(repo_top, side, path_in_repository(repo_top, policy_path))
