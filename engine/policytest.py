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
that agrees on the fields it gives). Every case runs through the real engine: the policy
is compiled once and each incident is evaluated as the service would.

Outcomes: each case passes or fails. An incident the policy refuses fails its case with
the incident's errors, located in the test file. Test files that cannot be read or break
the schema, and duplicate case names, are input errors (:class:`PolicyTestError`). Finding
no test case at all is a failure, not a success: a school that thinks its policy is tested
when it is not has been misled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError

from engine.compile import CompiledPolicy, EngineError, compile_policy
from engine.errors import IncidentError, Location, Problem, ProblemsError
from engine.evaluate import evaluate_incident
from engine.load import Document, parse_file
from engine.model import Decision, MissingPermission, Policy, Reason, Warning, Withheld
from engine.schemacheck import schema_problems, schema_validator
from engine.source import POLICY_SUFFIXES, TESTS_FOLDER
from engine.validate import _located, parse_incident


class PolicyTestError(ProblemsError):
    """The policy's test files cannot be used: unreadable, schema-invalid or ambiguous."""


# ------------------------------------------------------------------ expectations


@dataclass(frozen=True)
class ExpectedReason:
    """One expected reason of a recipient; ``None`` fields match anything."""

    source: str
    alert_group: str | None = None
    rule: str | None = None
    matched: tuple[tuple[str, str], ...] | None = None

    def matches(self, reason: Reason) -> bool:
        """Whether ``reason`` agrees on every field this expectation gives."""
        return (
            self.source == reason.source
            and self.alert_group in (None, reason.alert_group)
            and self.rule in (None, reason.rule)
            and self.matched in (None, reason.matched)
        )


@dataclass(frozen=True)
class ExpectedRecipient:
    """What is expected of one recipient; ``None`` means not checked."""

    user: str
    access: str | None = None
    reasons: tuple[ExpectedReason, ...] | None = None


@dataclass(frozen=True)
class ExpectedWithheld:
    """One expected withheld entry; ``None`` fields match anything."""

    user: str
    reason: str
    source: str | None = None
    rule: str | None = None
    alert_group: str | None = None
    missing: tuple[MissingPermission, ...] | None = None

    def matches(self, withheld: Withheld) -> bool:
        """Whether ``withheld`` agrees on every field this expectation gives."""
        return (
            self.user == withheld.user
            and self.reason == withheld.reason
            and self.source in (None, withheld.source)
            and self.rule in (None, withheld.rule)
            and self.alert_group in (None, withheld.alert_group)
            and (self.missing is None or sorted(self.missing) == sorted(withheld.missing))
        )


@dataclass(frozen=True)
class ExpectedWarning:
    """One expected warning: its code and, if given, the user it names."""

    code: str
    user: str | None = None

    def matches(self, warning: Warning) -> bool:
        """Whether ``warning`` has this code (and names this user, if one is given)."""
        return self.code == warning.code and self.user in (None, warning.user)


@dataclass(frozen=True)
class Expectation:
    """The expected decision. ``None`` (and ``rejection_given=False``) means not checked."""

    accepted: bool
    rejection_given: bool = False
    rejection: str | None = None
    recipients: tuple[ExpectedRecipient, ...] | None = None
    withheld: tuple[ExpectedWithheld, ...] | None = None
    warnings: tuple[ExpectedWarning, ...] | None = None


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
        _located(document, error, problem)
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
        expect=_expectation(data["expect"]),
        document=document,
        index=index,
    )


def _expectation(data: Mapping[str, Any]) -> Expectation:
    return Expectation(
        accepted=data["accepted"],
        rejection_given="rejection" in data,
        rejection=data.get("rejection"),
        recipients=_expected_recipients(data["recipients"]) if "recipients" in data else None,
        withheld=(
            tuple(_expected_withheld(w) for w in data["withheld"]) if "withheld" in data else None
        ),
        warnings=(
            tuple(
                ExpectedWarning(w)
                if isinstance(w, str)
                else ExpectedWarning(w["code"], w.get("user"))
                for w in data["warnings"]
            )
            if "warnings" in data
            else None
        ),
    )


def _expected_recipients(data: list | Mapping) -> tuple[ExpectedRecipient, ...]:
    if isinstance(data, list):
        return tuple(ExpectedRecipient(user) for user in data)
    out = []
    for user, spec in data.items():
        spec = spec or {}
        reasons = spec.get("reasons")
        out.append(
            ExpectedRecipient(
                user,
                access=spec.get("access"),
                reasons=tuple(_expected_reason(r) for r in reasons)
                if reasons is not None
                else None,
            )
        )
    return tuple(out)


def _expected_reason(data: Mapping[str, Any]) -> ExpectedReason:
    matched = data.get("matched")
    return ExpectedReason(
        source=data["source"],
        alert_group=data.get("alert_group"),
        rule=data.get("rule"),
        matched=tuple(sorted(matched.items())) if matched is not None else None,
    )


def _expected_withheld(data: Mapping[str, Any]) -> ExpectedWithheld:
    missing = data.get("missing")
    return ExpectedWithheld(
        user=data["user"],
        reason=data["reason"],
        source=data.get("source"),
        rule=data.get("rule"),
        alert_group=data.get("alert_group"),
        missing=(
            tuple(MissingPermission(m["category"], m["permission"]) for m in missing)
            if missing is not None
            else None
        ),
    )


def _shown(entry: object) -> str:
    """An expected or actual entry as written in a test file: ``{user: x, reason: y}``."""
    parts = []
    for key, value in vars(entry).items():
        if value is None or value == ():
            continue
        if key == "matched":
            value = "{" + ", ".join(f"{kind}: {v}" for kind, v in value) + "}"
        elif key == "missing":
            value = ", ".join(f"{m.permission} on {m.category}" for m in value)
        parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


# ------------------------------------------------------------------ comparing


def differences(expect: Expectation, decision: Decision, policy: Policy) -> tuple[str, ...]:
    """How ``decision`` differs from ``expect``, one plain-English line each (empty: passed)."""
    out: list[str] = []
    if decision.accepted != expect.accepted:
        wanted = "accepted" if expect.accepted else "rejected"
        got = "accepted" if decision.accepted else "rejected"
        if decision.rejection is not None:
            got += f" ({decision.rejection.code}: {decision.rejection.message})"
        out.append(f"expected the incident to be {wanted}, but it was {got}")
    if expect.rejection_given:
        actual = decision.rejection.code if decision.rejection else None
        if actual != expect.rejection:
            out.append(f"rejection: expected {expect.rejection or 'none'}, got {actual or 'none'}")
    if expect.recipients is not None:
        out += _recipient_differences(expect.recipients, decision, policy)
    if expect.withheld is not None:
        out += _withheld_differences(expect.withheld, decision)
    if expect.warnings is not None:
        out += _warning_differences(expect.warnings, decision)
    return tuple(out)


def _who(policy: Policy, user: str) -> str:
    known = policy.users.get(user)
    return f"{user} ({known.name})" if known else f"{user} (no such user in the policy)"


def _reason_words(reason: Reason) -> str:
    if reason.source == "user":
        return "chosen by name"
    if reason.source == "alert_group":
        return f"alert group {reason.alert_group}"
    return f"automatic alert {reason.rule}"


def _recipient_differences(
    expected: tuple[ExpectedRecipient, ...], decision: Decision, policy: Policy
) -> Iterator[str]:
    actual = {r.user: r for r in decision.recipients}
    wanted = {e.user: e for e in expected}
    for user in sorted(set(wanted) - set(actual)):
        why = [w.message() for w in decision.withheld if w.user == user]
        tail = f" — withheld: {'; '.join(why)}" if why else ""
        yield f"missing recipient {_who(policy, user)}{tail}"
    for user in sorted(set(actual) - set(wanted)):
        via = ", ".join(_reason_words(r) for r in actual[user].reasons)
        yield f"unexpected recipient {_who(policy, user)} via {via}"
    for user in sorted(set(actual) & set(wanted)):
        expectation, recipient = wanted[user], actual[user]
        if expectation.access is not None and expectation.access != recipient.access:
            yield f"access of {user}: expected {expectation.access}, got {recipient.access}"
        if expectation.reasons is not None:
            for reason in expectation.reasons:
                if not any(reason.matches(r) for r in recipient.reasons):
                    yield f"reasons of {user}: missing {_shown(reason)}"
            for actual_reason in recipient.reasons:
                if not any(reason.matches(actual_reason) for reason in expectation.reasons):
                    yield f"reasons of {user}: unexpected {_shown(actual_reason)}"


def _withheld_differences(
    expected: tuple[ExpectedWithheld, ...], decision: Decision
) -> Iterator[str]:
    for entry in expected:
        if not any(entry.matches(w) for w in decision.withheld):
            yield f"missing withheld {_shown(entry)}"
    for withheld in decision.withheld:
        if not any(entry.matches(withheld) for entry in expected):
            yield f"unexpected withheld: {withheld.message()}"


def _warning_differences(
    expected: tuple[ExpectedWarning, ...], decision: Decision
) -> Iterator[str]:
    for entry in expected:
        if not any(entry.matches(w) for w in decision.warnings):
            yield f"missing warning {_shown(entry)}"
    for warning in decision.warnings:
        if not any(entry.matches(warning) for entry in expected):
            yield f"unexpected warning {warning.code}: {warning.message}"


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

    def to_json(self) -> dict:
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
        """True when at least one case ran and every case passed."""
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

    def to_json(self) -> dict:
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

    def render(self) -> str:
        """The run as text, like a test runner: PASS/FAIL per case, then the summary."""
        lines: list[str] = []
        for result in self.results:
            case = result.case
            where = f"{case.location.file}:{case.location.line}"
            lines.append(f"{'PASS' if result.passed else 'FAIL'}  {case.name} ({where})")
            if result.errors:
                lines.append("      the incident is not valid input:")
                lines += [f"        {p.render()}" for p in result.errors]
            lines += [f"      - {d}" for d in result.differences]
        if lines:
            lines.append("")
        lines.append(self.message())
        return "\n".join(lines)


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
    policy: Policy, cases: list[TestCase], tests_folder: str, pattern: str | None = None
) -> SuiteResult:
    """Run the cases whose name contains ``pattern`` (any case) against ``policy``."""
    wanted = pattern.casefold() if pattern else None
    selected = [c for c in cases if wanted is None or wanted in c.name.casefold()]
    results: list[CaseResult] = []
    if selected:
        with compile_policy(policy) as compiled:
            results = [run_case(compiled, policy, case) for case in selected]
    return SuiteResult(tests_folder, policy.revision, tuple(results), len(cases), pattern)


def run_policy_tests(policy: Policy, policy_dir: Path, pattern: str | None = None) -> SuiteResult:
    """Load the test cases of the policy at ``policy_dir`` and run them against ``policy``.

    Raises :class:`PolicyTestError` when a test file is unreadable or invalid.
    """
    folder = os.path.relpath(policy_dir / TESTS_FOLDER).replace(os.sep, "/")
    return run_cases(policy, load_cases(policy_dir), folder, pattern)
