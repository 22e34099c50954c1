"""``alertpolicy test --format junit|github``: results for CI systems and GitHub."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result

from alertpolicy.cli import main
from tests.helpers import REPO

FIXTURES = "tests/testdata/policies"


@pytest.fixture(autouse=True)
def _from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["test", *args])


def test_junit_has_a_suite_per_file_and_a_case_per_test_case() -> None:
    result = run(f"{FIXTURES}/ptest-passing", "--format", "junit")
    assert result.exit_code == 0
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ElementTree.fromstring(result.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "0", "0")
    suites = {s.get("name"): [c.get("name") for c in s] for s in root}
    assert suites == {
        f"{FIXTURES}/ptest-passing/tests/bullying.yml": [
            "year-3-bullying-reaches-the-tutor",
            "year-4-bullying-with-nobody-chosen-is-rejected",
            "leaver-chosen-alone-is-rejected",
        ],
        f"{FIXTURES}/ptest-passing/tests/self-harm.yaml": ["self-harm-reaches-both-dsls"],
    }


def test_junit_failures_carry_every_difference_and_invalid_incidents_are_errors() -> None:
    result = run(f"{FIXTURES}/ptest-failing", "--format", "junit")
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout.split("\n", 1)[1])
    assert (root.get("tests"), root.get("failures")) == ("3", "3")
    first = root.find("testsuite/testcase")
    assert first is not None and first.get("line") == "3"
    failure = first.find("failure")
    assert failure is not None
    assert failure.get("message") == "missing recipient tteach (Tom Teach)"
    assert "- access of jsmith: expected needs_key, got full" in (failure.text or "")

    result = run(f"{FIXTURES}/ptest-invalid-incident", "--format", "junit")
    root = ElementTree.fromstring(result.stdout.split("\n", 1)[1])
    assert root.get("errors") == "2"  # both of its cases hold an invalid incident
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "the incident is not valid input"


def test_github_annotations_at_each_failing_case() -> None:
    result = run(f"{FIXTURES}/ptest-failing", "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"::error file={FIXTURES}/ptest-failing/tests/cases.yaml,line=3,col=5,"
        "title=policy-test-failed::test case self-harm-reaches-the-tutor-too failed:%0A"
        "- missing recipient tteach (Tom Teach)%0A"
    )
    assert len(lines) == 4 and lines[-1] == "0 passed, 3 failed"
