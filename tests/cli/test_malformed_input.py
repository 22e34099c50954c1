"""Malformed input on the command line: a message and exit code 2, never a traceback.

``evaluate`` reads incidents with the service's own checks; ``check`` warns about files
that look like policy but are not read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from alertpolicy.engine.check.incident import LIST_LIMITS
from tests.helpers import ALERTPOLICY, REPO, TESTDATA

SCHOOL = str(TESTDATA / "policies" / "small-school")
MOST_STUDENTS = LIST_LIMITS[("students",)]
GOOD = json.loads((TESTDATA / "incidents" / "small-school-bullying.json").read_text("utf-8"))


def evaluate(stdin: str | bytes, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["evaluate", "--policy", SCHOOL, *args, "-"], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (json.dumps({**GOOD, "students": 5}), "students"),
        (json.dumps({**GOOD, "students": True}), "students"),
        (json.dumps({**GOOD, "students": [{"id": "S1", "groups": "7A"}]}), "students[0].groups"),
        (json.dumps(GOOD).replace('"S1001"', "1e999"), "the number 1e999 is too large"),
        (json.dumps(GOOD).replace('"S1001"', '"\\ud800"'), "unpaired surrogate"),
        (json.dumps(GOOD).replace('"Year 7"', '"Year 7\\udc00"'), "students.0.groups.1"),
        ("[" * 1000 + "]" * 1000, "nested deeper than 32"),
        ('{"id": "INC-1", "id": "INC-2"}', "appears twice"),
        (b"\xff\xfe{}", "cannot read the incidents"),
        ("", "no incident given"),
        (
            json.dumps({**GOOD, "students": [{"id": f"S{i}"} for i in range(MOST_STUDENTS + 1)]}),
            f"at most {MOST_STUDENTS}",
        ),
    ],
)
def test_malformed_incidents_exit_2_with_a_message(stdin: str | bytes, expected: str) -> None:
    code, output = evaluate(stdin)
    assert code == 2
    assert expected in output
    assert "Traceback" not in output


def test_deep_nesting_through_the_installed_command_exits_2(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    done = subprocess.run(
        [ALERTPOLICY, "evaluate", "--policy", SCHOOL, str(deep)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{deep}:1:1: error: not valid JSON" in done.stderr or "nested deeper" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_warns_about_files_it_does_not_read(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    subprocess.run(["cp", "-r", SCHOOL, str(policy)], check=True)
    (policy / "rules.YAML").write_text("automatic_alerts: []\n")
    (policy / "users.yml.bak").write_text("users: {}\n")
    (policy / ".drafts").mkdir()
    (policy / ".drafts" / "self-harm.yaml").write_text("automatic_alerts: []\n")
    result = CliRunner().invoke(main, ["check", str(policy), "--format", "json"])
    data = json.loads(result.stdout)
    found = {w["value"]: w for w in data["warnings"] if w["code"] == "policy-file-not-read"}
    assert sorted(found) == [".drafts/self-harm.yaml", "rules.YAML", "users.yml.bak"]
    assert result.exit_code == 0  # warnings: only --strict fails on them
    strict = CliRunner().invoke(main, ["check", str(policy), "--strict"])
    assert strict.exit_code == 1
    assert "rules.YAML is not read" in strict.stdout
