"""``alertpolicy test``: a policy's own test cases, run through the real engine.

Each fixture is a small school policy directory ``tests/testdata/policies/ptest-<case>/``
with its own ``tests/`` folder of test files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from alertpolicy.cli import main
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.policytest.suite import PolicyTestError, load_cases, run_cases
from tests.helpers import REPO

FIXTURES = "tests/testdata/policies"


@pytest.fixture(autouse=True)
def _from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, so files are shown as ``tests/testdata/...``."""
    monkeypatch.chdir(REPO)


def run(*args: str) -> Result:
    """``alertpolicy test ARGS...``."""
    return CliRunner().invoke(main, ["test", *args])


def fixture(case: str) -> str:
    return f"{FIXTURES}/ptest-{case}"


def test_passing_suite_lists_every_case_with_its_place_and_exits_0() -> None:
    result = run(fixture("passing"))
    assert result.exit_code == 0, result.output
    where = f"{fixture('passing')}/tests"
    assert f"PASS  self-harm-reaches-both-dsls ({where}/self-harm.yaml:3)" in result.stdout
    # .yml files are found too, and cases run in file order then written order
    lines = [line for line in result.stdout.splitlines() if line.startswith("PASS")]
    assert [line.split()[1] for line in lines] == [
        "year-3-bullying-reaches-the-tutor",
        "year-4-bullying-with-nobody-chosen-is-rejected",
        "leaver-chosen-alone-is-rejected",
        "self-harm-reaches-both-dsls",
    ]
    assert result.stdout.rstrip().endswith("4 passed, 0 failed")


def test_directory_defaults_to_the_policy_option() -> None:
    result = run("--policy", fixture("passing"))
    assert result.exit_code == 0, result.output
    assert "4 passed, 0 failed" in result.stdout


def test_failing_cases_show_a_readable_difference() -> None:
    result = run(fixture("failing"))
    assert result.exit_code == 1
    out = result.stdout
    assert f"FAIL  self-harm-reaches-the-tutor-too ({fixture('failing')}/tests/cases.yaml:3)" in out
    for line in (
        "- missing recipient tteach (Tom Teach)",
        "- unexpected recipient akhan (Adam Khan) via automatic alert self-harm-to-dsls",
        "- access of jsmith: expected needs_key, got full",
        "- missing withheld {user: oleft, reason: missing_permission}",
        "- unexpected withheld: oleft (chosen by name) is an inactive user",
        "- missing warning {code: nobody_alerted}",
        "- expected the incident to be rejected, but it was accepted",
        "- rejection: expected no_alert_chosen, got none",
        "- reasons of jsmith: missing {source: user}",
        "- reasons of jsmith: unexpected {source: alert_group, alert_group: DSLs}",
    ):
        assert line in out
    assert out.rstrip().endswith("0 passed, 3 failed")


def test_missing_recipient_says_why_they_were_withheld(tmp_path: Path) -> None:
    policy = tmp_path / "school"
    shutil.copytree(REPO / fixture("passing"), policy)
    (policy / "tests" / "bullying.yml").unlink()
    (policy / "tests" / "self-harm.yaml").write_text(
        "cases:\n"
        "  - name: mixed-concern-reaches-the-tutor\n"
        "    incident:\n"
        "      categories: [Bullying, Self-harm]\n"
        "      students: [{id: S2004, groups: [Year 3]}]\n"
        "    expect:\n"
        "      accepted: true\n"
        "      recipients: [akhan, jsmith, tteach]\n",
        encoding="utf-8",
    )
    result = run(str(policy))
    assert result.exit_code == 1
    assert (
        "- missing recipient tteach (Tom Teach) — withheld: tteach (automatic alert "
        "year-3-bullying-to-tutor): their user group lacks view_incidents on Self-harm, "
        "view_students on Self-harm"
    ) in result.stdout


def test_an_invalid_incident_fails_its_case_with_located_errors_and_the_rest_still_run() -> None:
    result = run(fixture("invalid-incident"))
    assert result.exit_code == 1
    out = result.stdout
    file = f"{fixture('invalid-incident')}/tests/cases.yaml"
    assert f"FAIL  misspelt-alerts-field ({file}:2)" in out
    assert f"{file}:6:7: error: incident: unknown field 'alert' (did you mean 'alerts'?)" in out
    assert f"FAIL  misspelt-category ({file}:9)" in out
    assert f"{file}:11:31: error: categories[1]: unknown category 'Bulying'" in out
    assert f"PASS  self-harm-still-runs ({file}:15)" in out
    assert out.rstrip().endswith("1 passed, 2 failed")


def test_a_schema_invalid_test_file_is_an_input_error_with_file_line_column() -> None:
    result = run(fixture("schema-invalid"))
    assert result.exit_code == 2
    file = f"{fixture('schema-invalid')}/tests/cases.yaml"
    assert result.stderr.splitlines() == [
        f"{file}:2:5: error: cases[0]: missing required field 'expect'",
        f"{file}:6:5: error: cases[0]: unknown field 'expected' (did you mean 'expect'?)",
        f"{file}:15:26: error: cases[1].expect.recipients.jsmith.access: 'everything' is "
        "not allowed; expected one of: full, needs_key, none",
        f"{file}:16:18: error: cases[1].expect.warnings[0]: 'nobody_alrted' is not allowed "
        "(did you mean 'nobody_alerted'?); expected one of: recipient_cannot_open, "
        "recipient_cannot_see_students, unknown_student_group, nobody_alerted",
        f"{file}:16:69: error: cases[1].expect.warnings[1].user: '42' is read by YAML as "
        'the number 42; quote it: "42"',
    ]
    assert "PASS" not in result.stdout and "FAIL" not in result.stdout


def test_schema_errors_as_json() -> None:
    result = run(fixture("schema-invalid"), "--format", "json")
    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert errors[1]["file"] == f"{fixture('schema-invalid')}/tests/cases.yaml"
    assert (errors[1]["line"], errors[1]["column"]) == (6, 5)
    assert errors[1]["code"] == "policytest-unknown-field"


def test_yaml_traps_in_a_test_file_are_refused_with_their_place() -> None:
    result = run(fixture("yaml-error"))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"{fixture('yaml-error')}/tests/cases.yaml:6:7: error: duplicate key 'accepted'"
    )


def test_the_same_case_name_in_two_files_names_both_places() -> None:
    result = run(fixture("duplicate-name"))
    assert result.exit_code == 2
    where = f"{fixture('duplicate-name')}/tests"
    assert (
        f"{where}/b.yaml:2:5: error: test case name 'self-harm-reaches-the-dsls' is already "
        f"used at {where}/a.yaml:2:5"
    ) in result.stderr


def test_no_test_cases_found_is_a_notice_and_exit_0() -> None:
    result = run(fixture("no-tests"))
    assert result.exit_code == 0
    folder = f"{fixture('no-tests')}/tests/"
    assert result.stdout.strip() == (
        f"notice: no test cases found: add test files (*.yaml) with `cases:` to {folder}"
    )


def test_no_test_cases_fails_when_tests_are_required() -> None:
    result = run(fixture("no-tests"), "--require-tests")
    assert result.exit_code == 1
    assert result.stdout.startswith("error: no test cases found: ")
    result = run(fixture("no-tests"), "--require-tests", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith("::error title=no-test-cases::no test cases found: ")


def test_no_tests_folder_in_github_format_is_a_notice() -> None:
    result = run(fixture("no-tests"), "--format", "github")
    assert result.exit_code == 0
    assert result.stdout.startswith("::notice title=no-test-cases::no test cases found: ")


def test_an_invalid_policy_is_an_input_error() -> None:
    result = run(fixture("invalid-policy"))
    assert result.exit_code == 2
    assert "unknown user group 'Teachers'" in result.stderr
    assert "PASS" not in result.stdout


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_run_selects_cases_by_name_ignoring_case() -> None:
    result = run(fixture("passing"), "--run", "BULLYING")
    assert result.exit_code == 0, result.output
    ran = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("PASS")]
    assert ran == [
        "year-3-bullying-reaches-the-tutor",
        "year-4-bullying-with-nobody-chosen-is-rejected",
    ]
    assert "2 passed, 0 failed (2 not selected by --run 'BULLYING')" in result.stdout


def test_run_matching_no_case_is_a_failure() -> None:
    result = run(fixture("passing"), "--run", "radicalisation")
    assert result.exit_code == 1
    assert "no test case name contains 'radicalisation' (4 cases in" in result.stdout


def test_json_output_carries_each_result_and_its_decision() -> None:
    result = run(fixture("failing"), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["passed"], report["failed"]) == (False, 0, 3)
    first = report["cases"][0]
    assert first["name"] == "self-harm-reaches-the-tutor-too"
    assert (first["file"], first["line"]) == (f"{fixture('failing')}/tests/cases.yaml", 3)
    assert "access of jsmith: expected needs_key, got full" in first["differences"]
    assert [r["user"] for r in first["decision"]["recipients"]] == ["akhan", "jsmith"]
    assert report["policy_revision"].startswith("sha256:")


def test_json_output_of_an_invalid_incident_lists_its_errors() -> None:
    result = run(fixture("invalid-incident"), "--format", "json")
    report = json.loads(result.stdout)
    failed = report["cases"][0]
    assert failed["passed"] is False and failed["decision"] is None
    assert (failed["errors"][0]["line"], failed["errors"][0]["column"]) == (6, 7)


def test_incident_id_defaults_to_the_case_name() -> None:
    policy_dir = REPO / fixture("passing")
    result = run_cases(load_policy(policy_dir), load_cases(policy_dir), "tests")
    assert {r.decision.incident for r in result.results if r.decision} == {
        r.case.name for r in result.results
    }


def test_load_cases_raises_with_every_file_problem() -> None:
    with pytest.raises(PolicyTestError) as raised:
        load_cases(REPO / fixture("schema-invalid"))
    assert len(raised.value.problems) == 5


def test_the_test_file_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads((REPO / "schemas" / "policytest.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
