"""``check``, ``test``, ``who`` and ``diff`` on a folder of schools (``--policies``,
``--school``), and how those options combine with ``--policy``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from tests.helpers import TESTDATA, git

TRUST = TESTDATA / "schools" / "oakfield-trust"


@pytest.fixture
def schools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the Oakfield trust at ``policies/``, the working directory its parent."""
    shutil.copytree(TRUST, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "policies"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_check_goes_through_every_school(schools: Path) -> None:
    code, out = run("check", "--policies", "policies")
    assert code == 0
    assert out.splitlines() == [
        "policies/oakfield/ OK: 6 files, 7 users, 4 user groups, 4 alert groups, 5 categories, "
        "6 automatic alerts",
        "policies/riverside/ OK: 6 files, 7 users, 4 user groups, 4 alert groups, 5 categories, "
        "6 automatic alerts",
    ]


def test_one_schools_error_fails_the_check_and_names_that_school(schools: Path) -> None:
    users = schools / "riverside" / "users.yaml"
    users.write_text(users.read_text().replace("user_group: DSL", "user_group: DSLs", 1))
    code, out = run("check", "--policies", "policies")
    assert code == 1
    assert "policies/oakfield/ OK" in out
    assert "policies/riverside/users.yaml:2:" in out and "unknown user group 'DSLs'" in out
    code, out = run("check", "--school", "oakfield")  # --policies defaults to policies/
    assert code == 0


def test_check_json_of_one_school_and_of_all(schools: Path) -> None:
    code, out = run("check", "--school", "riverside", "--format", "json")
    one = json.loads(out)
    assert code == 0 and one["school"] == "riverside" and one["summary"]["users"] == 7
    code, out = run("check", "--policies", "policies", "--format", "json")
    every = json.loads(out)
    assert every["ok"] is True
    assert [s["school"] for s in every["schools"]] == ["oakfield", "riverside"]


def test_test_runs_every_schools_own_cases(schools: Path) -> None:
    code, out = run("test", "--policies", "policies")
    assert code == 0
    assert out.count("PASS  self-harm-reaches-the-trust-safeguarding-lead") == 2
    code, out = run("test", "--policies", "policies", "--format", "junit")
    root = ElementTree.fromstring(out)
    assert root.get("tests") == "2" and root.get("failures") == "0"
    suites = [s.get("name") for s in root.iter("testsuite")]
    assert suites == [
        "policies/oakfield/tests/self-harm.yaml",
        "policies/riverside/tests/self-harm.yaml",
    ]


def test_a_school_whose_trust_lead_is_removed_fails_its_test(schools: Path) -> None:
    rules = schools / "oakfield" / "automatic_alerts.yaml"
    rules.write_text(rules.read_text().replace("[DSLs, Trust Safeguarding]", "[DSLs]"))
    code, out = run("test", "--policies", "policies", "--format", "json")
    assert code == 1
    results = {s["school"]: s["ok"] for s in json.loads(out)["schools"]}
    assert results == {"oakfield": False, "riverside": True}


def test_who_answers_for_one_school(schools: Path) -> None:
    code, out = run("who", "--school", "riverside", "--category", "Self-harm", "--format", "json")
    assert code == 0
    alerted = [entry["user"] for entry in json.loads(out)["alerted"]]
    assert alerted == ["hwright", "jsmith", "pdavies"]
    code, out = run("who", "--policies", "policies", "--category", "Self-harm")
    assert code == 2 and "say which school of policies: --school NAME" in out


def test_policy_and_schools_options_do_not_combine(schools: Path) -> None:
    for args in (
        ("check", "--policy", "policies/oakfield", "--policies", "policies"),
        ("check", "policies/oakfield", "--school", "oakfield"),
        ("who", "--policy", "policies/oakfield", "--school", "oakfield", "--category", "Bullying"),
    ):
        code, out = run(*args)
        assert code == 2, args
        assert "cannot be combined with --policies or --school" in out


def test_an_unknown_school_is_a_usage_error_with_a_suggestion(schools: Path) -> None:
    code, out = run("check", "--school", "Oakfield")
    assert code == 2
    assert "no school 'Oakfield' in policies (did you mean 'oakfield'?)" in out


def test_diff_of_one_school_between_revisions(schools: Path) -> None:
    root = schools.parent
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Trust policies")
    trust = schools / "trust" / "safeguarding.yaml"
    trust.write_text(trust.read_text().replace("    key_holder: true\n", "    active: false\n"))
    code, out = run("diff", "main", "--school", "oakfield", "--format", "json")
    assert code == 0
    changes = json.loads(out)
    assert changes["base"]["label"] == "main:policies/oakfield"
    assert {(c["user"], c["change"], c["trigger"]["value"]) for c in changes["changes"]} == {
        ("hwright", "loses", "Self-harm"),
        ("hwright", "loses", "Trust Safeguarding"),
    }
    assert {c["detail"] for c in changes["policy_changes"]} >= {
        "hwright deactivated",
        "hwright no longer holds a key",
    }
