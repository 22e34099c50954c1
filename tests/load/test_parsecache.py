"""Files parsed once: a reload reads the cache for unchanged files, and never a stale one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.load.parsecache import ParseCache
from alertpolicy.engine.model import Policy
from tests.helpers import REPO

TOM_EVANS = """  tevans:
    name: Tom Evans
    email: t.evans@northfield.example
    user_group: Heads of Year       # Head of Year 9; key not yet issued
"""


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example school's policy, shown as ``policy/...``."""
    shutil.copytree(REPO / "policy", tmp_path / "policy", ignore=shutil.ignore_patterns("tests"))
    monkeypatch.chdir(tmp_path)
    return Path("policy")


@pytest.fixture
def cache(tmp_path: Path) -> ParseCache:
    folder = tmp_path / "parsed"
    folder.mkdir()
    return ParseCache(folder)


def cached(policy: Path, cache: ParseCache) -> Policy:
    return load_source(read_directory(policy, with_git=False), cache)


def afresh(policy: Path) -> Policy:
    return load_source(read_directory(policy, with_git=False))


def test_a_policy_read_through_the_cache_is_the_policy_read_afresh(
    policy: Path, cache: ParseCache
) -> None:
    first, second = cached(policy, cache), cached(policy, cache)
    assert first == afresh(policy)
    assert second == first
    assert [r.location for r in second.automatic_alerts] == [
        r.location for r in afresh(policy).automatic_alerts
    ]


def test_a_file_edited_on_disk_is_read_again(policy: Path, cache: ParseCache) -> None:
    assert cached(policy, cache).users["tevans"].name == "Tom Evans"
    staff = policy / "staff" / "pastoral.yaml"
    staff.write_text(staff.read_text().replace("Tom Evans", "Thomas Evans"))
    edited = cached(policy, cache)
    assert edited.users["tevans"].name == "Thomas Evans"
    assert edited == afresh(policy)


def test_a_problem_in_an_unchanged_file_is_placed_as_without_the_cache(
    policy: Path, cache: ParseCache
) -> None:
    cached(policy, cache)
    staff = policy / "staff" / "pastoral.yaml"
    staff.write_text(staff.read_text().replace(TOM_EVANS, ""))
    with pytest.raises(PolicyError) as through_cache:
        cached(policy, cache)
    with pytest.raises(PolicyError) as read_afresh:
        afresh(policy)
    shown = [p.render() for p in through_cache.value.problems]
    assert shown == [p.render() for p in read_afresh.value.problems]
    assert any(
        "policy/automatic-alerts/heads-of-year.yaml:22:" in line and "'tevans'" in line
        for line in shown
    )
