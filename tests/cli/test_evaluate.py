"""``alertpolicy evaluate``: files, JSON lines, stdin, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from alertpolicy.cli import main
from tests.helpers import TESTDATA

SCHOOL = str(TESTDATA / "policies" / "eval-school")


def incident_file(case: str) -> str:
    """Path of ``tests/testdata/incidents/eval-<case>.json``."""
    return str(TESTDATA / "incidents" / f"eval-{case}.json")


def one_line(case: str) -> str:
    """The incident of ``case`` as one JSON line."""
    return json.dumps(json.loads(Path(incident_file(case)).read_text("utf-8")))


def run(*args: str, stdin: str | None = None):
    """Run the CLI in-process, stdout and stderr kept apart."""
    return CliRunner().invoke(main, ["evaluate", "--policy", SCHOOL, *args], input=stdin)


def test_text_output_explains_each_recipient() -> None:
    result = run(incident_file("several-ways"))
    assert result.exit_code == 0, result.output
    assert "Incident INC-2026-0111: accepted." in result.stdout
    assert "Jane Smith <jsmith@brookfield.example> (full access)" in result.stdout


def test_json_output_is_the_decision() -> None:
    result = run("--format", "json", incident_file("chosen-user"))
    assert result.exit_code == 0
    decision = json.loads(result.stdout)
    assert decision["incident"] == "INC-2026-0101"
    assert [r["user"] for r in decision["recipients"]] == ["jsmith"]
    assert decision["policy_revision"].startswith("sha256:")


def test_json_lines_give_one_decision_per_line_in_order(tmp_path: Path) -> None:
    cases = ["match-any", "chosen-user", "no-alert-chosen"]
    path = tmp_path / "incidents.jsonl"
    path.write_text("\n".join(one_line(c) for c in cases) + "\n\n", "utf-8")
    result = run("--format", "json", str(path))
    assert result.exit_code == 0
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["incident"] for d in decisions] == ["INC-2026-0105", "INC-2026-0101", "INC-2026-0114"]
    assert [d["accepted"] for d in decisions] == [True, True, False]


def test_stdin_holds_one_incident_or_json_lines() -> None:
    single = Path(incident_file("match-all")).read_text("utf-8")
    result = run("--format", "json", "-", stdin=single)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["incident"] == "INC-2026-0106"
    lines = one_line("match-all") + "\n" + one_line("chosen-user") + "\n"
    result = run("--format", "json", "-", stdin=lines)
    assert [json.loads(x)["incident"] for x in result.stdout.splitlines()] == [
        "INC-2026-0106",
        "INC-2026-0101",
    ]


def test_a_rejected_incident_is_a_decision_and_exits_0() -> None:
    result = run(incident_file("no-recipients"))
    assert result.exit_code == 0
    assert "REJECTED (no_recipients)" in result.stdout


def test_bad_lines_are_named_by_line_field_and_value_and_nothing_is_decided(
    tmp_path: Path,
) -> None:
    path = tmp_path / "incidents.jsonl"
    bad = {"id": "INC-9", "categories": ["Bulying"], "students": [{"id": "S1"}]}
    path.write_text(
        one_line("chosen-user") + "\n" + json.dumps(bad) + "\n" + '{"id": "INC-10",\n',
        "utf-8",
    )
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}:2:1: error:" in result.stderr
    assert "Bulying" in result.stderr
    assert f"{path}:3:1: error: not valid JSON" in result.stderr
    assert "Traceback" not in result.output


def test_bad_incident_errors_in_json_name_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "incident.json"
    path.write_text(
        json.dumps(
            {
                "id": "INC-9",
                "categories": ["Bullying"],
                "students": [{"id": "S1"}],
                "alerts": {"users": ["nobody"]},
            }
        ),
        "utf-8",
    )
    result = run("--format", "json", str(path))
    assert result.exit_code == 2
    [error] = json.loads(result.stdout)["errors"]
    assert (error["field"], error["value"], error["line"]) == ("alerts.users.0", "nobody", 1)


def test_a_misspelt_field_is_refused() -> None:
    incident = {
        "id": "INC-9",
        "categories": ["Bullying"],
        "students": [{"id": "S1"}],
        "alert": {"users": ["jsmith"]},
    }
    result = run("-", stdin=json.dumps(incident))
    assert result.exit_code == 2
    assert "alert" in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_and_empty_input_exit_2(tmp_path: Path) -> None:
    assert run(str(tmp_path / "missing.json")).exit_code == 2
    empty = tmp_path / "none.jsonl"
    empty.write_text("\n", "utf-8")
    result = run(str(empty))
    assert result.exit_code == 2
    assert "no incident given" in result.stderr


def test_an_invalid_policy_exits_2_with_its_errors(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("users:\n  jsmith: {name: Jane}\n", "utf-8")
    result = CliRunner().invoke(
        main, ["evaluate", "--policy", str(tmp_path), incident_file("chosen-user")]
    )
    assert result.exit_code == 2
    assert "policy.yaml" in result.stderr
    assert "Traceback" not in result.output


def test_help_documents_inputs_and_exit_codes() -> None:
    result = CliRunner().invoke(main, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "INCIDENTS.jsonl" in result.stdout
    assert "Exit 0" in result.stdout
