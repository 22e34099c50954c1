"""One side of a comparison: a directory, the working tree or a git revision, loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.sides import load_side
from alertpolicy.engine.errors import PolicyError
from tests.helpers import REPO, git

CASES = Path("tests/testdata/policies")
GOOD, OTHER_GOOD = CASES / "small-school", CASES / "eval-school"
BAD = CASES / "unknown-user-group"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_a_directory_side_is_the_policy_loaded_there() -> None:
    side = load_side(str(OTHER_GOOD), GOOD)
    assert side.policy == load_policy(OTHER_GOOD)
    assert side.label == str(OTHER_GOOD)
    jsmith = side.policy.users["jsmith"]
    assert jsmith.location == load_policy(OTHER_GOOD).users["jsmith"].location


def test_the_working_tree_is_the_policy_path_itself() -> None:
    assert load_side(None, GOOD).policy == load_policy(GOOD)


def rendered(action: object, *args: object) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        action(*args)  # type: ignore[operator]
    return [problem.render() for problem in raised.value.problems]


def test_an_invalid_side_reports_every_error_located_as_loading_it_alone_does() -> None:
    found = rendered(load_side, str(BAD), GOOD)
    assert found == rendered(load_policy, BAD)
    assert found[0].startswith(f"{BAD}/policy.yaml:11:73: error: ")


def test_a_revision_before_the_policy_existed_is_an_empty_policy(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "README.md").write_text("no policy yet\n")
    git(tmp_path, "add", "README.md")
    git(tmp_path, "commit", "-q", "-m", "start")
    (tmp_path / "policy").mkdir()
    side = load_side("HEAD", tmp_path / "policy")
    assert side.policy.revision == "none" and not side.policy.users
    assert "(no policy there)" in side.label
