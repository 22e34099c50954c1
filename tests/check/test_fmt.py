"""``alertpolicy fmt``: one canonical layout that keeps comments and never changes a decision."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from alertpolicy.cli import main
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.fmt import format_text
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.model import Policy
from tests.helpers import EXAMPLE_POLICY, edit
from tests.strategies import ENGINE_SETTINGS, policies

COMMENT = re.compile(r"#.*$")


def fmt(*args: str) -> Result:
    return CliRunner().invoke(main, ["fmt", *args])


def meaning(policy: Policy) -> Policy:
    """``policy`` without what depends on the bytes of its files (hashes, revision)."""
    return dataclasses.replace(policy, files=(), revision="")


def comments(folder: Path) -> list[str]:
    """Every comment in the policy files under ``folder``, in file order."""
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        for line in path.read_text().splitlines():
            match = COMMENT.search(line)
            if match and not re.search(r"[\"'].*#.*[\"']", line):
                found.append(match.group(0).strip())
    return found


@pytest.fixture
def school(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(EXAMPLE_POLICY, target, ignore=shutil.ignore_patterns("tests"))
    return target


def test_the_example_school_formatted_means_the_same_and_keeps_every_comment(
    school: Path,
) -> None:
    before, notes = load_policy(school), comments(school)
    result = fmt(str(school))
    assert result.exit_code == 0, result.output
    assert meaning(load_policy(school)) == meaning(before)
    assert comments(school) == notes
    assert fmt("--check", str(school)).exit_code == 0  # idempotent


def test_check_lists_the_files_that_would_change_and_changes_nothing(school: Path) -> None:
    assert fmt(str(school)).exit_code == 0  # canonical first: then only these edits differ
    edit(
        "alert-groups.yaml",
        "members: {user_groups: [SENCO]}",
        "members:\n      user_groups:\n        - SENCO",
    )(school)
    edit("staff/teaching.yaml", "    name:", '    "name":')(school)
    before = (school / "alert-groups.yaml").read_text()
    result = fmt("--check", str(school))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("would reformat ") and lines[0].endswith("/alert-groups.yaml")
    assert lines[1].endswith("/staff/teaching.yaml")
    assert (school / "alert-groups.yaml").read_text() == before
    assert fmt(str(school)).output.splitlines()[0].startswith("reformatted ")
    assert fmt("--check", str(school)).exit_code == 0


def test_the_layout_key_order_flow_style_and_quotes() -> None:
    text = (
        "# rules\n"
        "automatic_alerts:\n"
        "  - match: all   # both\n"
        "    when:\n"
        "      student_groups:\n"
        "        - '7A'\n"
        "      categories: ['Bullying']\n"
        '    notify: {users: ["tteach"]}\n'
        '    id: "bullying-7a"\n'
        "user_groups:\n"
        "  Staff:\n"
        "    category_permissions: {'*': [add_incidents], 'no': [view_students]}\n"
    )
    assert format_text("p.yaml", text) == (
        "# rules\n"
        "user_groups:\n"
        "  Staff:\n"
        '    category_permissions: {"*": [add_incidents], "no": [view_students]}\n'
        "automatic_alerts:\n"
        "  - id: bullying-7a\n"
        "    notify: {users: [tteach]}\n"
        "    when: {categories: [Bullying], student_groups: [7A]}\n"
        "    match: all   # both\n"
    )


def test_long_text_is_folded_and_reads_back_the_same() -> None:
    words = "Concerns about children on a child protection plan go to the whole team " * 3
    text = f"automatic_alerts:\n  - id: a\n    description: {words.strip()}\n"
    formatted = format_text("p.yaml", text)
    assert "description: >-\n" in formatted
    assert max(len(line) for line in formatted.splitlines()) <= 100
    assert yaml.safe_load(formatted) == yaml.safe_load(text)


def test_a_file_that_does_not_read_is_an_input_error(school: Path) -> None:
    edit("staff/pastoral.yaml", "    email: p.kaur@", "  email: p.kaur@")(school)
    before = (school / "staff" / "pastoral.yaml").read_text()
    result = fmt(str(school))
    assert result.exit_code == 2
    assert "pastoral.yaml:12:3: error: YAML syntax error: line 12 is indented" in result.output
    assert (school / "staff" / "pastoral.yaml").read_text() == before


TRICKY = ["Note: Year 7 only", "a # b", "yes", "~", "", "*", "x " * 70, 'Zoë\'s "form"']


def as_data(policy: Policy, descriptions: list[str]) -> dict[str, Any]:
    """``policy`` written as the sections of a policy file."""
    return {
        "settings": {
            "enforce_at_least_one_alert": policy.settings.enforce_at_least_one_alert,
            "automatic_alerts_count_for_enforcement": (
                policy.settings.automatic_alerts_count_for_enforcement
            ),
            "automatic_alert_permission": policy.settings.automatic_alert_permission,
        },
        "categories": list(policy.categories),
        "user_groups": {
            name: {
                "system_permissions": sorted(g.system_permissions),
                "category_permissions": {c: sorted(p) for c, p in g.category_permissions.items()},
            }
            for name, g in policy.user_groups.items()
        },
        "users": {
            uid: {
                "name": u.name,
                "email": u.email,
                "user_group": u.user_group,
                "key_holder": u.key_holder,
                "active": u.active,
            }
            for uid, u in policy.users.items()
        },
        "alert_groups": {
            name: {
                "description": descriptions[i % len(descriptions)],
                "members": {"users": list(g.users), "user_groups": list(g.user_groups)},
            }
            for i, (name, g) in enumerate(policy.alert_groups.items())
        },
        "automatic_alerts": [
            {
                "when": {
                    k: list(v)
                    for k, v in (
                        ("categories", r.when.categories),
                        ("students", r.when.students),
                        ("student_groups", r.when.student_groups),
                    )
                    if v
                },
                "notify": {
                    k: list(v)
                    for k, v in (
                        ("users", r.notify.users),
                        ("user_groups", r.notify.user_groups),
                        ("alert_groups", r.notify.alert_groups),
                    )
                    if v
                }
                or {"users": []},
                "id": r.id,
                "match": r.match,
            }
            for r in policy.automatic_alerts
        ],
    }


@ENGINE_SETTINGS
@given(
    policies(),
    st.lists(st.sampled_from(TRICKY), min_size=1, max_size=3),
    st.sampled_from([None, True, False]),
)
def test_formatting_a_random_policy_never_changes_what_it_decides(
    tmp_path_factory: pytest.TempPathFactory,
    policy: Policy,
    descriptions: list[str],
    flow: bool | None,
) -> None:
    folder = tmp_path_factory.mktemp("policy")
    data = as_data(policy, descriptions)
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    (folder / "policy.yaml").write_text(text)
    try:
        before = load_policy(folder)
    except PolicyError:
        return  # a policy the strategy builds but the schema refuses (an empty notify)
    assert fmt(str(folder)).exit_code == 0
    formatted = (folder / "policy.yaml").read_text()
    assert meaning(load_policy(folder)) == meaning(before)
    assert format_text("policy.yaml", formatted) == formatted
