"""``alertpolicy test --coverage``: what no test case exercises, like ``opa test --coverage``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alertpolicy.cli import main
from tests.helpers import REPO

PASSING = "tests/testdata/policies/ptest-passing"


@pytest.fixture(autouse=True)
def _from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["test", "--coverage", *args])


def test_every_rule_group_and_category_exercised() -> None:
    result = run(PASSING)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "coverage: 2 of 2 automatic alerts, 1 of 1 alert groups, 2 of 2 categories exercised"
    )


def test_what_no_case_exercises_is_listed_where_it_is_defined() -> None:
    result = run(PASSING, "--run", "self-harm")
    assert result.exit_code == 0, result.output
    tail = result.stdout.splitlines()[-5:]
    assert tail == [
        "coverage: 1 of 2 automatic alerts, 1 of 1 alert groups, 1 of 2 categories exercised",
        "  automatic alerts no test case exercises:",
        f"    year-3-bullying-to-tutor ({PASSING}/policy.yaml:29:5)",
        "  categories no test case exercises:",
        f"    Bullying ({PASSING}/policy.yaml:5:14)",
    ]


def test_an_alert_group_reached_only_through_a_rule_that_did_not_fire_is_not_exercised() -> None:
    result = run(PASSING, "--run", "year-4", "--format", "json")
    coverage = json.loads(result.stdout)["coverage"]
    assert coverage["automatic_alerts"]["exercised"] == 0
    assert coverage["alert_groups"] == {
        "total": 1,
        "exercised": 0,
        "not_exercised": [{"name": "DSLs", "file": f"{PASSING}/policy.yaml", "line": 22}],
    }
    assert [c["name"] for c in coverage["categories"]["not_exercised"]] == ["Self-harm"]


def test_an_alert_group_chosen_in_an_incident_is_exercised(tmp_path: Path) -> None:
    policy = tmp_path / "school"
    shutil.copytree(REPO / PASSING, policy)
    (policy / "tests" / "self-harm.yaml").unlink()
    (policy / "tests" / "chosen.yaml").write_text(
        "cases:\n"
        "  - name: bullying-with-the-dsls-chosen\n"
        "    incident:\n"
        "      categories: [Bullying]\n"
        "      students: [{id: S1, groups: [Year 5]}]\n"
        "      alerts: {alert_groups: [DSLs]}\n"
        "    expect: {accepted: true, recipients: [akhan, jsmith]}\n"
    )
    result = run(str(policy), "--run", "dsls-chosen", "--format", "json")
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.stdout)["coverage"]
    assert coverage["alert_groups"]["exercised"] == 1
    assert [r["name"] for r in coverage["automatic_alerts"]["not_exercised"]] == [
        "self-harm-to-dsls",
        "year-3-bullying-to-tutor",
    ]


def test_the_example_school_is_fully_covered() -> None:
    result = run()
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith("coverage: ") and "no test case exercises" not in result.stdout
    for kind in ("automatic alerts", "alert groups", "categories"):
        count = last.split(f" {kind}")[0].split(", ")[-1].removeprefix("coverage: ")
        exercised, total = count.split(" of ")
        assert exercised == total
