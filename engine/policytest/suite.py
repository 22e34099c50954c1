"""A policy's own test cases: an incident and the outcome the school expects (``alertpolicy test``).

Test files live in ``<policy>/tests/*.yaml`` (and ``*.yml``), are checked against
``schemas/policytest.schema.json`` and read with the policy loader's safe YAML reader, so
every mistake in them is reported as ``file:line:column``. A file looks like this::

    # yaml-language-server: $schema=../../schemas/policytest.schema.json
    cases:
      - name: self-harm-reaches-the-safeguarding-team
        description: A disclosure of self-harm must reach every DSL at once.
        incident:                       # as submitted to the service; id defaults to the name
          categories: [Self-harm]
          students: [{id: S1042, groups: [Year 9, 9B]}]
        expect:
          accepted: true                # always checked
          rejection: null               # no_alert_chosen | no_recipients | null
          recipients: [mbrown, rpatel]  # exactly these usernames; or a mapping:
          #   rpatel: {access: full, reasons: [{source: automatic_alert, rule: x}]}
          withheld:                     # exactly these (fields left out match anything)
            - {user: tevans, reason: missing_permission, rule: year-9-pastoral-to-head-of-year-9}
          warnings: [recipient_cannot_open]   # or {code: ..., user: ...}

Only the expectations written down are checked; a list that is written down must match
exactly (an entry of ``withheld``, ``warnings`` or ``reasons`` matches every actual entry
that agrees on the fields it gives; see :mod:`.expectations`). Every case runs
through the real engine: the policy is compiled once and each incident is evaluated as
the service would.

Outcomes: each case passes or fails. An incident the policy refuses fails its case with
the incident's errors, located in the test file. Test files that cannot be read or break
the schema, and duplicate case names, are input errors (:class:`PolicyTestError`). Finding
no test case at all (or no ``tests/`` folder) is said plainly, as a notice; it fails the
run only when tests are required (``--require-tests``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError

from alertpolicy.engine.check.build import locate_schema_problem
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.check.schema import schema_problems, schema_validator
from alertpolicy.engine.decide.compiled import CompiledPolicy, EngineError, compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import (
    IncidentError,
    Location,
    PolicyTestError,
    Problem,
)
from alertpolicy.engine.load.files import POLICY_SUFFIXES, TESTS_FOLDER
from alertpolicy.engine.load.safeyaml import Document, parse_file
from alertpolicy.engine.model import Decision, Policy
from alertpolicy.engine.policytest.coverage import Coverage, measure
from alertpolicy.engine.policytest.expectations import Expectation, differences, read_expectation


@dataclass(frozen=True)
class TestCase:
    """One test case: a named incident and its expected decision, where it was written."""

    __test__ = False  # not a pytest test class

    name: str
    description: str
    location: Location
    incident: Mapping[str, Any]
    expect: Expectation
    document: Document
    index: int

    def incident_problem(self, problem: Problem) -> Problem:
        """``problem`` (found in the incident) placed at its line in the test file."""
        on_key = problem.code.endswith(("-unknown-field", "-missing-field"))
        path = ("cases", self.index, "incident", *problem.path)
        location = self.document.location(path, key=on_key)
        return Problem(problem.code, problem.message, location, path=problem.path)


# ------------------------------------------------------------------ reading test files


def test_files(policy_dir: Path) -> list[Path]:
    """The test files of the policy at ``policy_dir``: ``tests/*.yaml`` and ``*.yml``, sorted."""
    folder = policy_dir / TESTS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in POLICY_SUFFIXES)


def load_cases(policy_dir: Path) -> list[TestCase]:
    """Every test case of the policy at ``policy_dir``, in file order then written order.

    Raises :class:`PolicyTestError` with every problem found in every test file.
    """
    cases: list[TestCase] = []
    problems: list[Problem] = []
    for path in test_files(policy_dir):
        display = os.path.relpath(path).replace(os.sep, "/")
        found, file_problems = _read_test_file(path, display)
        cases += found
        problems += file_problems
    problems += _duplicate_names(cases)
    if problems:
        raise PolicyTestError(problems)
    return cases


def _read_test_file(path: Path, display: str) -> tuple[list[TestCase], list[Problem]]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        return [], [
            Problem(
                "test-file-unreadable", f"cannot read test file: {reason}", Location(display, 1, 1)
            )
        ]
    document, problems = parse_file(path.name, display, raw)
    if document is None or problems:
        return [], [_as_test_problem(p) for p in problems]
    if document.root is None:
        return [], [
            Problem(
                "policytest-empty",
                "the test file is empty; it must hold `cases:`",
                Location(display, 1, 1),
            )
        ]
    schema_errors = [
        locate_schema_problem(document, error, problem)
        for found in schema_validator("policytest").iter_errors(document.data)
        for error in _most_relevant(found)
        for problem in schema_problems(error, "policytest", "(test file)")
    ]
    if schema_errors:
        return [], schema_errors
    return [_case(document, i, data) for i, data in enumerate(document.data["cases"])], []


def _as_test_problem(problem: Problem) -> Problem:
    """A reader problem reworded where it speaks of policy sections."""
    if problem.code != "not-a-mapping":
        return problem
    message = "a test file must be a mapping with a `cases:` list of test cases"
    return Problem(problem.code, message, problem.location)


def _most_relevant(error: ValidationError) -> list[ValidationError]:
    """For a failed ``oneOf``, the errors of the one alternative whose type fits the value."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [
        errors
        for errors in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if len(fitting) != 1:
        return [error]
    return [leaf for sub in fitting[0] for leaf in _most_relevant(sub)]


def _duplicate_names(cases: list[TestCase]) -> Iterator[Problem]:
    first: dict[str, TestCase] = {}
    for case in cases:
        if case.name in first:
            earlier = first[case.name].location
            yield Problem(
                "policytest-duplicate-name",
                f"test case name {case.name!r} is already used at {earlier}; "
                "every case needs its own name",
                case.location,
                value=case.name,
                related=(earlier,),
            )
        else:
            first[case.name] = case


def _case(document: Document, index: int, data: Mapping[str, Any]) -> TestCase:
    incident = dict(data["incident"])
    incident.setdefault("id", data["name"])
    return TestCase(
        name=data["name"],
        description=data.get("description", ""),
        location=document.location(("cases", index)),
        incident=incident,
        expect=read_expectation(data["expect"]),
        document=document,
        index=index,
    )


# ------------------------------------------------------------------ running


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: passed, or the differences / incident errors that failed it."""

    case: TestCase
    differences: tuple[str, ...] = ()
    errors: tuple[Problem, ...] = ()
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        """True when the decision matched every expectation."""
        return not self.differences and not self.errors and self.decision is not None

    def to_json(self) -> dict[str, Any]:
        """The result as reported by ``alertpolicy test --format json``."""
        loc = self.case.location
        return {
            "name": self.case.name,
            "file": loc.file,
            "line": loc.line,
            "passed": self.passed,
            "differences": list(self.differences),
            "errors": [p.to_json() for p in self.errors],
            "decision": self.decision.to_json() if self.decision else None,
        }


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of a test run: each selected case's result, and what was not run."""

    tests_folder: str
    policy_revision: str
    results: tuple[CaseResult, ...]
    found: int
    pattern: str | None = None
    require_tests: bool = False
    """Whether finding no test case at all fails the run (otherwise it is a notice)."""

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """How many cases failed."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """True when every case run passed, and something ran that was asked for.

        No test case at all is a notice, not a failure, unless ``require_tests``; a
        ``--run`` pattern no case matches is a failure.
        """
        if not self.found:
            return not self.require_tests
        return bool(self.results) and not self.failed

    def message(self) -> str:
        """The summary line: counts, or why nothing ran."""
        if not self.found:
            return (
                f"no test cases found: add test files (*.yaml) with `cases:` "
                f"to {self.tests_folder}/"
            )
        if not self.results:
            return (
                f"no test case name contains {self.pattern!r} "
                f"({self.found} cases in {self.tests_folder}/)"
            )
        summary = f"{self.passed} passed, {self.failed} failed"
        skipped = self.found - len(self.results)
        if skipped:
            summary += f" ({skipped} not selected by --run {self.pattern!r})"
        return summary

    def coverage(self, policy: Policy) -> Coverage:
        """What the cases that ran exercise of ``policy`` (see :mod:`.coverage`)."""
        decisions = [r.decision for r in self.results if r.decision is not None]
        return measure(policy, [r.case.incident for r in self.results], decisions)

    def to_json(self) -> dict[str, Any]:
        """The run as reported by ``alertpolicy test --format json``."""
        return {
            "ok": self.ok,
            "policy_revision": self.policy_revision,
            "passed": self.passed,
            "failed": self.failed,
            "not_selected": self.found - len(self.results),
            "message": self.message(),
            "cases": [r.to_json() for r in self.results],
        }


def run_case(compiled: CompiledPolicy, policy: Policy, case: TestCase) -> CaseResult:
    """Evaluate one case's incident with ``compiled`` and compare with its expectations."""
    try:
        incident = parse_incident(dict(case.incident), policy)
    except IncidentError as error:
        return CaseResult(case, errors=tuple(case.incident_problem(p) for p in error.problems))
    try:
        decision = evaluate_incident(compiled, incident)
    except EngineError as error:
        return CaseResult(case, differences=(f"the engine could not evaluate it: {error}",))
    return CaseResult(case, differences(case.expect, decision, policy), decision=decision)


def run_cases(
    policy: Policy,
    cases: list[TestCase],
    tests_folder: str,
    pattern: str | None = None,
    require_tests: bool = False,
) -> SuiteResult:
    """Run the cases whose name contains ``pattern`` (any case) against ``policy``."""
    wanted = pattern.casefold() if pattern else None
    selected = [c for c in cases if wanted is None or wanted in c.name.casefold()]
    results: list[CaseResult] = []
    if selected:
        with compile_policy(policy) as compiled:
            results = [run_case(compiled, policy, case) for case in selected]
    return SuiteResult(
        tests_folder, policy.revision, tuple(results), len(cases), pattern, require_tests
    )


def run_policy_tests(
    policy: Policy, policy_dir: Path, pattern: str | None = None, require_tests: bool = False
) -> SuiteResult:
    """Load the test cases of the policy at ``policy_dir`` and run them against ``policy``.

    Raises :class:`PolicyTestError` when a test file is unreadable or invalid.
    """
    folder = os.path.relpath(policy_dir / TESTS_FOLDER).replace(os.sep, "/")
    return run_cases(policy, load_cases(policy_dir), folder, pattern, require_tests)
