"""The JSON Schemas: valid Draft 2020-12, documented, usable by check-jsonschema/editors.

Also that the fast valid-or-not check (engine/schemacheck.py) agrees with jsonschema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from alertpolicy.engine.check.schema import quick_check, schema_validator
from tests.helpers import REPO

SCHEMAS = REPO / "schemas"
POLICIES = REPO / "tests" / "testdata" / "policies"
NAMES = ("policy", "incident")


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def properties(node: object, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every (path, subschema) listed under a ``properties`` keyword."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    yield f"{path}.{name}", sub
                    yield from properties(sub, f"{path}.{name}")
            else:
                yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            yield from properties(item, path)


@pytest.mark.parametrize("name", NAMES)
def test_schema_passes_the_meta_schema(name: str) -> None:
    Draft202012Validator.check_schema(schema(name))
    assert schema(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema(name)["$id"].endswith(f"/{name}.schema.json")


@pytest.mark.parametrize("name", NAMES)
def test_every_property_has_a_description_for_editors(name: str) -> None:
    missing = [path for path, sub in properties(schema(name)) if "description" not in sub]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_objects_refuse_unknown_fields(name: str) -> None:
    def objects(node: object) -> Iterator[dict]:
        if isinstance(node, dict):
            if "properties" in node:
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for item in node:
                yield from objects(item)

    for obj in objects(schema(name)):
        if obj is not schema(name)["properties"].get("metadata"):
            assert obj.get("additionalProperties") is False


def policy_files() -> list[Path]:
    files = sorted((POLICIES / "small-school").glob("*.yaml"))
    files += sorted(p for p in (REPO / "policy").rglob("*.yaml") if "tests" not in p.parts)
    files += sorted((POLICIES / "lint-clean").glob("*.yaml"))
    return files


CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]
"""The independent validator, from the test dependencies installed beside this Python."""


def test_check_jsonschema_accepts_valid_policy_files() -> None:
    done = subprocess.run(
        [*CHECK_JSONSCHEMA, "--schemafile", str(SCHEMAS / "policy.schema.json")]
        + [str(p) for p in policy_files()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_jsonschema_refuses_a_broken_file() -> None:
    done = subprocess.run(
        [
            *CHECK_JSONSCHEMA,
            "--schemafile",
            str(SCHEMAS / "policy.schema.json"),
            str(POLICIES / "schema-wrong-type" / "policy.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("incident", "valid"),
    [
        ("small-school-bullying", True),
        ("numeric-student-id", True),
        ("unknown-names", True),
        ("misspelt-alerts-field", False),
    ],
)
def test_incident_fixtures_against_the_schema(incident: str, valid: bool) -> None:
    raw = json.loads((REPO / "tests" / "testdata" / "incidents" / f"{incident}.json").read_text())
    assert schema_validator("incident").is_valid(raw) is valid
    assert quick_check("incident")(raw) is valid


@pytest.mark.parametrize("path", policy_files(), ids=lambda p: p.name)
def test_fast_check_accepts_valid_policy_files(path: Path) -> None:
    assert quick_check("policy")(yaml.safe_load(path.read_text()))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.sampled_from(
        ["", " DSL", "DSL", "admin", "view_students", "any", "every_category", "a@b", "x y", "*"]
    ),
)
KEYS = st.sampled_from(
    [
        "settings",
        "categories",
        "user_groups",
        "users",
        "alert_groups",
        "automatic_alerts",
        "enforce_at_least_one_alert",
        "automatic_alert_permission",
        "system_permissions",
        "category_permissions",
        "name",
        "email",
        "user_group",
        "key_holder",
        "active",
        "members",
        "description",
        "id",
        "notify",
        "when",
        "match",
        "students",
        "DSL",
        "*",
    ]
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(document=st.dictionaries(KEYS, DOCS, max_size=4))
def test_fast_check_agrees_with_jsonschema(document: dict) -> None:
    assert quick_check("policy")(document) == schema_validator("policy").is_valid(document)


@settings(max_examples=300, deadline=None)
@given(document=DOCS)
def test_fast_incident_check_agrees_with_jsonschema(document: object) -> None:
    assert quick_check("incident")(document) == schema_validator("incident").is_valid(document)
