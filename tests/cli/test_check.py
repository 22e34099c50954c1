"""``alertpolicy check``: every problem, three output formats, exit codes 0/1/2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from tests.helpers import ALERTPOLICY, REPO, edit

CASES = "tests/testdata/policies"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.output


def test_clean_policy_exits_0_with_a_summary() -> None:
    code, out = check(f"{CASES}/small-school")
    assert code == 0
    assert out == (
        f"{CASES}/small-school/ OK: 5 files, 6 users, 3 user groups, 3 alert groups, "
        "5 categories, 6 automatic alerts\n"
    )


def test_errors_exit_1_and_every_one_is_listed() -> None:
    code, out = check(f"{CASES}/many-problems")
    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 10
    assert lines[0].startswith(f"{CASES}/many-problems/broken.yaml:2:9: error: YAML syntax")
    assert lines[5] == (
        f"{CASES}/many-problems/rules.yaml:6:30: error: automatic alert 'self-harm-to-dsl', "
        "notify.users[1]: unknown user 'pdavies'"
    )
    assert lines[-1] == f"{CASES}/many-problems/: 9 errors, 0 warnings"


def test_warnings_pass_unless_strict() -> None:
    code, out = check(f"{CASES}/lint-enforcement-off")
    assert code == 0
    assert out.splitlines()[0] == (
        f"{CASES}/lint-enforcement-off/policy.yaml:3:3: warning: enforce_at_least_one_alert "
        "is off: an incident can be submitted without alerting anyone"
    )
    assert out.splitlines()[-1].endswith("3 automatic alerts, 1 warning")
    code, out = check("--strict", f"{CASES}/lint-enforcement-off")
    assert code == 1
    assert " FAILED (--strict): " in out.splitlines()[-1]


def test_directory_defaults_to_the_policy_option() -> None:
    code, out = check("--policy", f"{CASES}/small-school")
    assert code == 0 and out.startswith(f"{CASES}/small-school/ OK")


def test_missing_directory_is_a_usage_error() -> None:
    code, out = check(f"{CASES}/no-such-school")
    assert code == 2
    assert f"policy directory {CASES}/no-such-school does not exist" in out


def test_empty_directory_is_a_finding() -> None:
    code, out = check(f"{CASES}/empty")
    assert code == 1
    assert out.splitlines()[0] == (
        f"error: policy directory {CASES}/empty holds no policy file (*.yaml or *.yml)"
    )


def test_json_format() -> None:
    code, out = check("--format", "json", f"{CASES}/unknown-user-group")
    data = json.loads(out)
    assert code == 1
    assert data["ok"] is False and data["warnings"] == []
    assert data["summary"]["errors"] == 3 and data["summary"]["users"] is None
    first = data["errors"][0]
    assert first == {
        "severity": "error",
        "code": "unknown-user-group",
        "message": "users.tteach.user_group: unknown user group 'Teaching staff' "
        "(did you mean 'Teaching Staff'?)",
        "file": f"{CASES}/unknown-user-group/policy.yaml",
        "line": 11,
        "column": 73,
        "field": "users.tteach.user_group",
        "value": "Teaching staff",
        "location": f"{CASES}/unknown-user-group/policy.yaml:11:73",
        "related": [],
    }


def test_json_format_of_a_clean_policy_with_a_warning() -> None:
    code, out = check("--format", "json", f"{CASES}/lint-inactive-user-named")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert [w["code"] for w in data["warnings"]] == ["inactive-user-named"]
    assert data["summary"]["users"] == 3 and data["summary"]["revision"].startswith("sha256:")


def test_github_annotations() -> None:
    code, out = check("--format", "github", f"{CASES}/duplicate-key")
    assert code == 1
    assert out.splitlines()[0] == (
        f"::error file={CASES}/duplicate-key/users.yaml,line=4,col=3,title=duplicate-key::"
        "duplicate key 'jsmith': it is already defined at line 2 (column 3); YAML would "
        "silently keep only one of them"
    )


def test_github_annotation_of_a_policy_wide_warning_is_placed_where_to_fix_it() -> None:
    code, out = check("--format", "github", "--strict", f"{CASES}/lint-no-admin-key-holder")
    assert code == 1
    assert out.splitlines()[0].startswith(
        f"::warning file={CASES}/lint-no-admin-key-holder/policy.yaml,line=19,col=3,"
        "title=no-admin-key-holder::no active user"
    )


def test_real_process_from_the_repository_root(tmp_path: Path) -> None:
    shutil.copytree(REPO / CASES / "lint-rule-never-sends", tmp_path / "policy")
    done = subprocess.run(
        [ALERTPOLICY, "check", "--strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        "policy/policy.yaml:37:5: warning: automatic alert self-harm-to-class-teacher cannot "
        "alert tteach"
    )
    assert "Traceback" not in done.stderr


def test_real_process_exit_2_for_a_missing_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [ALERTPOLICY, "check", "nowhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "policy directory nowhere does not exist" in done.stderr


# ------------------------------------------------------------------ the cause first


def example_school(tmp_path: Path) -> Path:
    """A copy of the shipped example school, to break on purpose."""
    target = tmp_path / "policy"
    shutil.copytree(REPO / "policy", target, ignore=shutil.ignore_patterns("tests"))
    return target


def test_a_dedented_line_is_reported_first_with_its_consequences_folded_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = example_school(tmp_path)
    edit("staff/pastoral.yaml", "    email: p.kaur@", "  email: p.kaur@")(policy)
    monkeypatch.chdir(tmp_path)
    code, out = check("policy")
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == (
        "policy/staff/pastoral.yaml:12:3: error: YAML syntax error: line 12 is indented by "
        "2 spaces, the lines around it by 4 spaces; indentation is structure in YAML: indent "
        "line 12 like its neighbours"
    )
    assert lines[1] == "  6 more errors follow from this:"
    assert lines[2] == (
        "    policy/automatic-alerts/heads-of-year.yaml:10:22: error: automatic alert "
        "'year-7-pastoral-to-head-of-year-7', notify.users[0]: unknown user 'jobrien'"
    )
    assert len(lines) == 9
    assert lines[-1] == (
        "policy/: 7 errors (6 following from the files that cannot be read), 0 warnings"
    )
    code, out = check("--format", "json", "policy")
    data = json.loads(out)
    assert [e["code"] for e in data["errors"]] == ["yaml-syntax"]
    assert len(data["errors"][0]["follows_from_this"]) == 6
    assert data["summary"]["errors"] == 7


def test_an_error_that_does_not_follow_from_the_broken_file_is_not_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = example_school(tmp_path)
    edit("staff/pastoral.yaml", "    email: p.kaur@", "  email: p.kaur@")(policy)
    edit("alert-groups.yaml", "users: [", "users: [nobody-at-all, ")(policy)
    monkeypatch.chdir(tmp_path)
    code, out = check("policy")
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith("policy/staff/pastoral.yaml:12:3: error: YAML")
    unfolded = [line for line in lines if line.startswith("policy/alert-groups.yaml")]
    assert len(unfolded) == 1 and "unknown user 'nobody-at-all'" in unfolded[0]


def test_a_quoted_true_where_true_or_false_is_expected_says_remove_the_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = example_school(tmp_path)
    edit("settings.yaml", "enforce_at_least_one_alert: true", 'enforce_at_least_one_alert: "true"')(
        policy
    )
    monkeypatch.chdir(tmp_path)
    code, out = check("policy")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("policy/settings.yaml:")
    assert first.endswith(
        "error: settings.enforce_at_least_one_alert: expected true or false, got 'true'; "
        "remove the quotes: true"
    )


def test_lint_still_runs_on_the_files_that_could_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / CASES / "lint-enforcement-off", tmp_path / "policy")
    (tmp_path / "policy" / "notes.yaml").write_text("categories: [Bullying\n")
    monkeypatch.chdir(tmp_path)
    code, out = check("policy")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("policy/notes.yaml:1:13: error: YAML syntax error: the [ opened")
    assert lines[1].startswith("policy/policy.yaml:3:3: warning: enforce_at_least_one_alert is off")
    assert lines[-1] == "policy/: 1 error, 1 warning in the files that could be read"
