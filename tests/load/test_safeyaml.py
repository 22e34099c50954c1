"""Reading policy files: every YAML trap is an error naming file:line:column."""

from __future__ import annotations

import subprocess
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy, load_source
from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.load.safeyaml import ALIAS_BUDGET, parse_file
from tests.helpers import ALERTPOLICY, REPO

CASES = Path("tests/testdata/policies")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in messages are relative to the working directory: run from the repo root."""
    monkeypatch.chdir(REPO)


def problems(case: str) -> tuple[Problem, ...]:
    with pytest.raises(PolicyError) as caught:
        load_policy(CASES / case)
    return caught.value.problems


def rendered(case: str) -> list[str]:
    return [p.render() for p in problems(case)]


def only(case: str) -> Problem:
    (problem,) = problems(case)
    return problem


def test_small_school_loads() -> None:
    policy = load_policy(CASES / "small-school")
    assert sorted(policy.users) == ["jsmith", "mokafor", "oleft", "pdavies", "rbrown", "tteach"]
    assert policy.users["jsmith"].location is not None
    assert str(policy.users["jsmith"].location) == f"{CASES}/small-school/users.yaml:2:3"


def test_duplicate_key_names_both_lines() -> None:
    problem = only("duplicate-key")
    assert problem.code == "duplicate-key"
    assert str(problem.location) == f"{CASES}/duplicate-key/users.yaml:4:3"
    assert "duplicate key 'jsmith'" in problem.message
    assert "already defined at line 2" in problem.message
    assert [str(r) for r in problem.related] == [f"{CASES}/duplicate-key/users.yaml:2:3"]


def test_boolean_name_as_key_and_in_a_list() -> None:
    assert rendered("boolean-name") == [
        f"{CASES}/boolean-name/policy.yaml:8:3: error: users.no: 'no' is read by YAML as "
        'the boolean false; quote it: "no"',
        f"{CASES}/boolean-name/policy.yaml:12:31: error: alert_groups.Form Tutors.members"
        ".users[1]: 'no' is read by YAML as the boolean false; quote it: \"no\"",
    ]


def test_numbers_where_names_are_expected() -> None:
    found = problems("number-name")
    assert [(str(p.location), p.code) for p in found] == [
        (f"{CASES}/number-name/policy.yaml:13:24", "yaml-implicit-type"),
        (f"{CASES}/number-name/policy.yaml:14:18", "yaml-implicit-type"),
        (f"{CASES}/number-name/policy.yaml:14:24", "yaml-implicit-type"),
    ]
    assert "'10' is read by YAML as the number 10; quote it: \"10\"" in found[0].message
    assert "'1042' is read by YAML as the number 1042" in found[1].message
    # YAML 1.2 (editors, other tools) reads 1e3 as a number although PyYAML does not.
    assert "'1e3' is read by YAML as the number 1000.0; quote it: \"1e3\"" in found[2].message


def test_null_where_a_name_is_expected() -> None:
    (problem,) = [p for p in problems("many-problems") if "'~'" in p.message]
    assert str(problem.location) == f"{CASES}/many-problems/people.yaml:8:73"
    assert "'~' is read by YAML as null (no value); quote it" in problem.message


def test_python_tag_is_refused_and_never_constructed() -> None:
    problem = only("python-tag")
    assert problem.code == "yaml-tag"
    assert str(problem.location) == f"{CASES}/python-tag/policy.yaml:2:8"
    assert "!!python/object/apply:os.system is not allowed" in problem.message


def test_custom_tag_is_refused() -> None:
    problem = only("custom-tag")
    assert str(problem.location) == f"{CASES}/custom-tag/policy.yaml:1:24"
    assert "the tag !secret is not allowed" in problem.message


def test_billion_laughs_fails_fast_without_expanding() -> None:
    tracemalloc.start()
    try:
        problem = only("billion-laughs")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    assert problem.code == "yaml-alias-budget"
    assert str(problem.location) == f"{CASES}/billion-laughs/policy.yaml:3:14"
    assert f"beyond {ALIAS_BUDGET} values" in problem.message


def test_small_aliases_are_fine(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "categories: [Bullying]\n"
        "user_groups:\n"
        "  DSL: {category_permissions: {'*': &all [view_students, view_incidents]}}\n"
        "  Deputy DSL: {category_permissions: {'*': *all}}\n"
    )
    policy = load_policy(tmp_path)
    assert "view_incidents" in policy.user_groups["Deputy DSL"].category_permissions["*"]


def test_recursive_alias_is_refused() -> None:
    problem = only("recursive-alias")
    assert problem.code == "yaml-alias"
    assert str(problem.location) == f"{CASES}/recursive-alias/policy.yaml:1:13"
    assert "endless" in problem.message


def test_merge_keys_are_refused() -> None:
    problem = only("merge-key")
    assert problem.code == "yaml-merge-key"
    assert str(problem.location) == f"{CASES}/merge-key/policy.yaml:7:5"
    assert "merge keys (<<) are not supported" in problem.message


def test_not_utf8_names_the_byte() -> None:
    problem = only("not-utf8")
    assert problem.code == "not-utf8"
    assert str(problem.location) == f"{CASES}/not-utf8/users.yaml:3:20"
    assert "not UTF-8" in problem.message and "0xeb" in problem.message
    assert "byte offset 49" in problem.message


def test_empty_policy_directory() -> None:
    problem = only("empty")
    assert problem.location is None
    assert problem.message == (
        f"policy directory {CASES}/empty holds no policy file (*.yaml or *.yml)"
    )


def test_syntax_error_is_placed_where_the_unclosed_list_opens() -> None:
    problem = only("syntax-error")
    assert problem.code == "yaml-syntax"
    assert str(problem.location) == f"{CASES}/syntax-error/policy.yaml:1:13"
    assert problem.message == (
        "YAML syntax error: the [ opened here is not closed with ] (or an item in it holds "
        "a character such as ':' or '#' and must be put in quotes)"
    )


def test_top_level_must_be_a_mapping() -> None:
    problem = only("not-a-mapping")
    assert str(problem.location) == f"{CASES}/not-a-mapping/policy.yaml:1:1"
    assert "must be a mapping of sections" in problem.message and "a list" in problem.message


def test_yes_no_on_off_as_booleans_are_refused() -> None:
    assert rendered("loose-boolean") == [
        f"{CASES}/loose-boolean/policy.yaml:2:31: error: settings.enforce_at_least_one_alert: "
        "'yes' means true only in old YAML (1.1); editors and other tools read it as text: "
        "write true",
        f"{CASES}/loose-boolean/policy.yaml:9:87: error: users.jsmith.active: 'On' means "
        "true only in old YAML (1.1); editors and other tools read it as text: write true",
    ]


def test_every_problem_in_every_file_is_reported() -> None:
    found = problems("many-problems")
    where = [(str(p.location).removeprefix(f"{CASES}/many-problems/"), p.code) for p in found]
    assert where == [
        ("broken.yaml:2:9", "yaml-syntax"),
        ("people.yaml:8:73", "yaml-implicit-type"),
        ("people.yaml:9:72", "unknown-user-group"),
        ("people.yaml:10:3", "duplicate-key"),
        ("rules.yaml:3:3", "duplicate-definition"),
        ("rules.yaml:6:30", "unknown-user"),
        ("rules.yaml:7:36", "unknown-category"),
        ("rules.yaml:8:9", "duplicate-rule-id"),
        ("rules.yaml:10:29", "yaml-implicit-type"),
    ]


def test_too_deep_nesting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("categories: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.problems[0].code == "yaml-too-deep"


@pytest.mark.parametrize(
    "text",
    [
        "categories: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "categories:\n  " + "- " * 100_000 + "Bullying\n",
    ],
    ids=["flow", "block"],
)
def test_very_deep_nesting_fails_fast_without_crashing(tmp_path: Path, text: str) -> None:
    # libyaml's composer recurses in C and would crash the process: run in a child process.
    (tmp_path / "p.yaml").write_text(text)
    done = subprocess.run(
        [ALERTPOLICY, "check", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "nest more than 64 levels deep here" in done.stdout


def test_empty_file_is_an_empty_part_of_the_policy(tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text("# nothing yet\n")
    (tmp_path / "p.yaml").write_text("categories: [Bullying]\n")
    assert load_policy(tmp_path).categories == ("Bullying",)


def test_names_are_nfc_normalised(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë")
    (tmp_path / "p.yaml").write_text(
        f"categories: [Bullying]\nuser_groups: {{Staff: {{}}}}\n"
        f"users:\n  zoe: {{name: {decomposed} Brown, email: z@x.example, user_group: Staff}}\n",
        encoding="utf-8",
    )
    assert load_policy(tmp_path).users["zoe"].name == "Zoë Brown"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_bytes("\ufeffcategories: [Bullying]\n".encode())
    assert load_policy(tmp_path).categories == ("Bullying",)


def test_paths_are_shown_with_the_source_label() -> None:
    source = PolicySource("HEAD~1:policy", {"users.yaml": b"users: {a: 1, a: 2}\n"})
    with pytest.raises(PolicyError) as caught:
        load_source(source)
    (duplicate,) = [p for p in caught.value.problems if p.code == "duplicate-key"]
    assert str(duplicate.location) == "HEAD~1:policy/users.yaml:1:15"


def test_parse_file_keeps_values_quoted_names_as_text() -> None:
    document, found = parse_file("p.yaml", "p.yaml", b'categories: ["no", "1e3", "~", Bullying]\n')
    assert found == []
    assert document is not None
    assert document.data == {"categories": ["no", "1e3", "~", "Bullying"]}
    assert str(document.location(("categories", 3))) == "p.yaml:1:32"
