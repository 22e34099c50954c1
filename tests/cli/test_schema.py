"""``alertpolicy schema NAME``: the published schemas, usable without this project's checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from alertpolicy.cli import main
from alertpolicy.commands.policy import SCHEMAS
from tests.helpers import ALERTPOLICY, EXAMPLE_POLICY

SCHEMA_BASE = "https://alertpolicy.example/schemas/"
"""Where every published schema's ``$id`` lives (the docs name the same)."""


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_schema_is_printed_with_a_stable_id(name: str) -> None:
    result = CliRunner().invoke(main, ["schema", name])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"{SCHEMA_BASE}{SCHEMAS[name]}.schema.json"


def test_an_unknown_name_is_a_usage_error_listing_the_names() -> None:
    result = CliRunner().invoke(main, ["schema", "policies"])
    assert result.exit_code == 2
    assert "'decision', 'diff', 'incident', 'policy', 'policy-test'" in result.output


def test_the_decision_schema_describes_what_evaluate_prints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(EXAMPLE_POLICY.parent)
    schema = json.loads(CliRunner().invoke(main, ["schema", "decision"]).stdout)
    incident = tmp_path / "incident.json"
    incident.write_text(
        '{"id": "INC-1", "categories": ["Self-harm", "Bullying"], "alerts": {"users": ["tevans"]},'
        ' "students": [{"id": "S1042", "groups": ["Year 9", "9B"]}]}'
    )
    done = CliRunner().invoke(main, ["evaluate", "--format", "json", str(incident)])
    assert done.exit_code == 0, done.output
    Draft202012Validator(schema).validate(json.loads(done.stdout))


def test_editor_set_up_in_a_policy_repository_without_a_checkout(tmp_path: Path) -> None:
    """The README's recipe: write the schema beside the policy; a schema tool uses it."""
    repo = tmp_path / "school-policy"
    shutil.copytree(EXAMPLE_POLICY, repo / "policy", ignore=shutil.ignore_patterns("tests"))
    (repo / ".schemas").mkdir()
    with (repo / ".schemas" / "policy.schema.json").open("w") as out:
        subprocess.run([ALERTPOLICY, "schema", "policy"], stdout=out, check=True, cwd=repo)
    files = sorted(str(p) for p in (repo / "policy").rglob("*.yaml"))
    checker = str(Path(sys.executable).with_name("check-jsonschema"))
    done = subprocess.run(
        [checker, "--schemafile", str(repo / ".schemas" / "policy.schema.json"), *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = repo / "policy" / "settings.yaml"
    broken.write_text(broken.read_text().replace("every_category", "every_categories"))
    done = subprocess.run(
        [checker, "--schemafile", str(repo / ".schemas" / "policy.schema.json"), str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "every_categories" in done.stdout
