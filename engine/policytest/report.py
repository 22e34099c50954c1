"""A test run rendered for people (text), CI systems (JUnit XML) and GitHub (annotations)."""

from __future__ import annotations

from xml.etree import ElementTree

from alertpolicy.engine.check.render import Style, github_annotation, plain
from alertpolicy.engine.errors import Problem
from alertpolicy.engine.policytest.suite import CaseResult, SuiteResult


def _failure_lines(result: CaseResult) -> list[str]:
    lines = []
    if result.errors:
        lines.append("the incident is not valid input:")
        lines += [f"  {p.render()}" for p in result.errors]
    return lines + [f"- {d}" for d in result.differences]


def suite_text(suite: SuiteResult, style: Style = plain) -> list[str]:
    """PASS/FAIL per case with what differed, then the summary (or a notice)."""
    lines: list[str] = []
    for result in suite.results:
        case = result.case
        where = f"{case.location.file}:{case.location.line}"
        verdict = style("PASS", fg="green") if result.passed else style("FAIL", fg="red")
        lines.append(f"{verdict}  {case.name} ({where})")
        lines += [f"      {line}" for line in _failure_lines(result)]
    if lines:
        lines.append("")
    if not suite.found:
        kind = "error" if suite.require_tests else "notice"
        return [*lines, f"{kind}: {suite.message()}"]
    return [*lines, suite.message()]


def suite_annotations(suite: SuiteResult) -> list[str]:
    """One GitHub annotation per failing case (at the case), then the summary line."""
    lines = []
    for result in suite.results:
        if result.passed:
            continue
        case = result.case
        problem = Problem(
            "policy-test-failed",
            f"test case {case.name} failed:\n" + "\n".join(_failure_lines(result)),
            case.location,
        )
        lines.append(github_annotation(problem))
    if not suite.found:
        kind = "error" if suite.require_tests else "notice"
        lines.append(github_annotation(Problem("no-test-cases", suite.message()), kind))
    return [*lines, suite.message()]


def suite_junit(*suites: SuiteResult) -> str:
    """The runs (one per school, or one) as one JUnit XML document: a test suite per test
    file, a test case per case."""
    root = ElementTree.Element("testsuites", name="alertpolicy test")
    files: dict[str, ElementTree.Element] = {}
    for result in (result for suite in suites for result in suite.results):
        file = result.case.location.file
        if file not in files:
            files[file] = ElementTree.SubElement(root, "testsuite", name=file)
        element = ElementTree.SubElement(
            files[file],
            "testcase",
            name=result.case.name,
            classname=file.removesuffix(".yaml").removesuffix(".yml").replace("/", "."),
            file=file,
            line=str(result.case.location.line),
        )
        if result.errors:
            error = ElementTree.SubElement(
                element, "error", message="the incident is not valid input", type="invalid-input"
            )
            error.text = "\n".join(_failure_lines(result))
        elif not result.passed:
            first = result.differences[0] if result.differences else "failed"
            failure = ElementTree.SubElement(element, "failure", message=first, type="expectation")
            failure.text = "\n".join(_failure_lines(result))
    for element in [root, *files.values()]:
        cases = element.iter("testcase")
        counted = [(c.find("failure") is not None, c.find("error") is not None) for c in cases]
        element.set("tests", str(len(counted)))
        element.set("failures", str(sum(f for f, _ in counted)))
        element.set("errors", str(sum(e for _, e in counted)))
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
