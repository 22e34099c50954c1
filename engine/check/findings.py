"""What ``alertpolicy check`` found, cause first: the report of one policy directory.

A file that cannot be read as YAML defines nothing, so every name it defined is then
"unknown" wherever another file uses it.  Those errors follow only from the unreadable
file: :func:`fold` puts them under it (``6 more errors follow from this``) and puts the
files that cannot be read first, so the admin sees the cause before its consequences.

Lint runs on the files that could be read whenever they make a policy of their own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.errors import PolicyError, Problem, sorted_problems
from alertpolicy.engine.load.files import PolicySource, read_directory, unread_lookalikes
from alertpolicy.engine.load.schools import TRUST_FOLDER, read_school
from alertpolicy.engine.model import Policy

UNREADABLE_FILE = frozenset(
    {
        "yaml-syntax",
        "not-utf8",
        "not-a-mapping",
        "yaml-too-deep",
        "yaml-alias",
        "yaml-alias-budget",
        "policy-file-unreadable",
    }
)
"""Codes of errors that leave a whole file unread: nothing in it is defined."""


@dataclass(frozen=True)
class Finding:
    """An error, and the errors that follow only from it (folded under it)."""

    problem: Problem
    follows: tuple[Problem, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The problem's JSON, with ``follows_from_this`` when errors are folded under it."""
        out = self.problem.to_json()
        if self.follows:
            out["follows_from_this"] = [p.to_json() for p in self.follows]
        return out


def _mentions(text: str, name: str) -> bool:
    """Whether ``name`` appears in ``text`` as a whole word (a key or a list item)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def fold(problems: Iterable[Problem], unread: Mapping[str, str]) -> tuple[Finding, ...]:
    """``problems`` cause first: unreadable files, then the rest; followers folded.

    ``unread`` maps each file that could not be read (as displayed) to its text. An
    ``unknown-...`` error whose name appears in such a file follows from it.
    """
    ordered = sorted_problems(problems)
    causes = [p for p in ordered if p.code in UNREADABLE_FILE]
    folded: dict[Problem, list[Problem]] = {cause: [] for cause in causes}
    first_cause: dict[str, Problem] = {}
    for cause in causes:
        if cause.location is not None:
            first_cause.setdefault(cause.location.file, cause)
    rest: list[Problem] = []
    for problem in ordered:
        if problem.code in UNREADABLE_FILE:
            continue
        leader = _cause_of(problem, unread, first_cause)
        if leader is None:
            rest.append(problem)
        else:
            folded[leader].append(problem)
    return tuple(Finding(c, tuple(folded[c])) for c in causes) + tuple(Finding(p) for p in rest)


def _cause_of(
    problem: Problem, unread: Mapping[str, str], causes: Mapping[str, Problem]
) -> Problem | None:
    if not problem.code.startswith("unknown-") or not isinstance(problem.value, str):
        return None
    for file in sorted(unread):
        if file in causes and _mentions(unread[file], problem.value):
            return causes[file]
    return None


def policy_counts(policy: Policy) -> dict[str, int]:
    """How many of each kind of thing ``policy`` defines, by section name."""
    return {
        "alert_groups": len(policy.alert_groups),
        "automatic_alerts": len(policy.automatic_alerts),
        "categories": len(policy.categories),
        "files": len(policy.files),
        "user_groups": len(policy.user_groups),
        "users": len(policy.users),
    }


@dataclass(frozen=True)
class CheckReport:
    """Everything ``check`` found in one policy directory."""

    policy: Policy | None
    """The checked policy, or ``None`` when it has errors."""
    errors: tuple[Finding, ...]
    warnings: tuple[Problem, ...]
    linted: Policy | None
    """The policy lint ran on: the whole one, the files that could be read, or none."""

    @property
    def error_count(self) -> int:
        """Every error, folded ones included."""
        return sum(1 + len(f.follows) for f in self.errors)

    def failed(self, strict: bool) -> bool:
        """Whether the check fails: any error, or (with ``strict``) any warning."""
        return bool(self.errors) or (strict and bool(self.warnings))


def check_source(source: PolicySource) -> CheckReport:
    """Check the policy held by ``source``: load it, lint it, fold its errors."""
    try:
        policy = load_source(source)
    except PolicyError as error:
        return _with_errors(source, error.problems)
    return CheckReport(policy, (), lint_policy(policy), policy)


def check_directory(path: Path) -> CheckReport:
    """Check the policy directory at ``path`` (see :func:`check_source`), and warn about
    files there that look like policy but are not read."""
    lookalikes = unread_lookalikes(path)
    try:
        source = read_directory(path)
    except PolicyError as error:
        return CheckReport(None, fold(error.problems, {}), lookalikes, None)
    report = check_source(source)
    warnings = sorted_problems([*report.warnings, *lookalikes])
    return dataclasses.replace(report, warnings=warnings)


def check_school(policies: Path, school: str) -> CheckReport:
    """Check ``school`` of the folder of schools ``policies`` with the trust layer (see
    :func:`check_directory`)."""
    folders = [policies / school, policies / TRUST_FOLDER]
    lookalikes = [p for folder in folders if folder.is_dir() for p in unread_lookalikes(folder)]
    try:
        source = read_school(policies, school)
    except PolicyError as error:
        return CheckReport(None, fold(error.problems, {}), tuple(lookalikes), None)
    report = check_source(source)
    warnings = sorted_problems([*report.warnings, *lookalikes])
    return dataclasses.replace(report, warnings=warnings)


def _with_errors(source: PolicySource, problems: tuple[Problem, ...]) -> CheckReport:
    shown = {source.display_path(relpath): relpath for relpath in source.files}
    unread_files = {
        p.location.file for p in problems if p.code in UNREADABLE_FILE and p.location is not None
    }
    unread = {
        file: source.files[shown[file]].decode("utf-8", "replace")
        for file in unread_files
        if file in shown
    }
    findings = fold(problems, unread)
    readable = {r: raw for r, raw in source.files.items() if source.display_path(r) not in unread}
    if not unread or not readable:
        return CheckReport(None, findings, (), None)
    try:
        partial = load_source(PolicySource(source.label, readable, source.git))
    except PolicyError:
        return CheckReport(None, findings, (), None)
    return CheckReport(None, findings, lint_policy(partial), partial)
