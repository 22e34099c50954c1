"""Problems rendered for people (text), programs (JSON) and GitHub (workflow annotations).

Only the command line renders problems; everything else passes :class:`Problem` values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from alertpolicy.engine.check.findings import CheckReport, Finding, policy_counts
from alertpolicy.engine.errors import Problem

Style = Callable[..., str]
"""``click.style``-like: ``style(text, fg=..., bold=...)``; :func:`plain` adds nothing."""


def plain(text: str, **_: object) -> str:
    """``text`` unstyled."""
    return text


def plural(count: int, noun: str) -> str:
    """``1 error``, ``2 errors``, ``3 categories``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def problem_text(problem: Problem, style: Style = plain) -> str:
    """``file:line:col: severity: message``, the severity coloured when ``style`` is."""
    where = f"{problem.location}: " if problem.location else ""
    colour = "red" if problem.severity == "error" else "yellow"
    return f"{where}{style(problem.severity, fg=colour, bold=True)}: {problem.message}"


def finding_text(finding: Finding, style: Style = plain) -> list[str]:
    """A finding and, indented under it, the errors that follow from it."""
    lines = [problem_text(finding.problem, style)]
    if finding.follows:
        lines.append(f"  {plural(len(finding.follows), 'more error')} follow from this:")
        lines += [f"    {problem_text(p, style)}" for p in finding.follows]
    return lines


def _escape(text: str, is_property: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if is_property else text


def github_annotation(problem: Problem, severity: str | None = None, note: str = "") -> str:
    """``problem`` as a GitHub workflow command (``::error file=...,line=...::message``)."""
    props = []
    if problem.location:
        loc = problem.location
        props += [f"file={_escape(loc.file, True)}", f"line={loc.line}", f"col={loc.column}"]
    props.append(f"title={_escape(problem.code, True)}")
    message = problem.message + (f"\n{note}" if note else "")
    return f"::{severity or problem.severity} {','.join(props)}::{_escape(message)}"


def finding_annotation(finding: Finding) -> str:
    """A finding as one annotation; the errors that follow from it are listed in it."""
    if not finding.follows:
        return github_annotation(finding.problem)
    note = f"{plural(len(finding.follows), 'more error')} follow from this:\n" + "\n".join(
        p.render() for p in finding.follows
    )
    return github_annotation(finding.problem, note=note)


def problems_text(problems: Iterable[Problem], style: Style = plain) -> list[str]:
    """Problems one per line, as :func:`problem_text`."""
    return [problem_text(p, style) for p in problems]


# ------------------------------------------------------------------ check reports

_NOUNS = {
    "files": "file",
    "users": "user",
    "user_groups": "user group",
    "alert_groups": "alert group",
    "categories": "category",
    "automatic_alerts": "automatic alert",
}


def check_json(report: CheckReport, label: str, strict: bool) -> dict[str, object]:
    """The report as ``alertpolicy check --format json`` prints it."""
    counts: dict[str, int | None] = dict.fromkeys(_NOUNS)
    if report.policy is not None:
        counts.update(policy_counts(report.policy))
    return {
        "ok": not report.failed(strict),
        "errors": [f.to_json() for f in report.errors],
        "warnings": [p.to_json() for p in report.warnings],
        "summary": {
            "policy": label,
            "revision": report.policy.revision if report.policy else None,
            **counts,
            "errors": report.error_count,
            "warnings": len(report.warnings),
            "linted": _linted(report),
        },
    }


def _linted(report: CheckReport) -> str:
    if report.linted is None:
        return "no"
    return "all files" if report.policy is not None else "files that could be read"


def check_lines(report: CheckReport, label: str, strict: bool, style: Style = plain) -> list[str]:
    """The report as text: every finding, then one summary line."""
    lines = [line for finding in report.errors for line in finding_text(finding, style)]
    lines += problems_text(report.warnings, style)
    return [*lines, _summary(report, label, strict, style)]


def check_annotations(report: CheckReport, label: str, strict: bool) -> list[str]:
    """The report as GitHub workflow annotations, then the summary line."""
    lines = [finding_annotation(f) for f in report.errors]
    lines += [github_annotation(p) for p in report.warnings]
    return [*lines, _summary(report, label, strict, plain)]


def _summary(report: CheckReport, label: str, strict: bool, style: Style) -> str:
    warnings = plural(len(report.warnings), "warning")
    if report.policy is None:
        errors = plural(report.error_count, "error")
        folded = sum(len(f.follows) for f in report.errors)
        if folded:
            errors += f" ({folded} following from the files that cannot be read)"
        if report.linted is not None:
            warnings += " in the files that could be read"
        return f"{label}: {errors}, {warnings}"
    counts = policy_counts(report.policy)
    summary = ", ".join(plural(counts[key], noun) for key, noun in _NOUNS.items())
    failed = report.failed(strict)
    verdict = style("FAILED (--strict)", fg="red") if failed else style("OK", fg="green")
    tail = f", {warnings}" if report.warnings else ""
    return f"{label} {verdict}: {summary}{tail}"
