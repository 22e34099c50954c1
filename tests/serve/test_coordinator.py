"""The reload coordinator and the policy watcher (engine/reload.py), on real files."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.load.files import read_directory, revision_of
from alertpolicy.engine.serve.coordinator import (
    Coordinator,
    NoPolicyLoaded,
    PolicyWatcher,
    is_policy_path,
)
from tests.helpers import TESTDATA

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"
BULLYING = {
    "id": "INC-2026-0042",
    "reported_by": "tteach",
    "categories": ["Bullying"],
    "students": [{"id": "S1001", "groups": ["7A", "Year 7"]}],
    "alerts": {"users": [], "alert_groups": ["DSLs"]},
}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the small-school policy that the test may edit."""
    target = tmp_path / "policy"
    shutil.copytree(SMALL_SCHOOL, target)
    return target


@pytest.fixture
def coordinator(policy_dir: Path) -> Iterator[Coordinator]:
    """A coordinator over ``policy_dir`` with its own metrics registry, first load done."""
    coord = Coordinator(policy_dir, CollectorRegistry())
    assert coord.reload().ok
    yield coord
    coord.close()


def rename_user(policy_dir: Path, old: str, new: str) -> None:
    """Change a staff member's display name: a real, valid content change."""
    users = policy_dir / "users.yaml"
    users.write_text(users.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` whole at once, as an editor saves: a temporary file, then a rename."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as temporary:
        temporary.write(text)
    os.replace(temporary.name, path)


def sample(registry: CollectorRegistry, name: str, labels: dict | None = None) -> float | None:
    """A sample's value from ``registry``."""
    return registry.get_sample_value(name, labels or {})


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (for file-watcher effects)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_first_load_serves_the_policy_and_reports_it(policy_dir: Path) -> None:
    registry = CollectorRegistry()
    coord = Coordinator(policy_dir, registry)
    assert coord.current is None
    with pytest.raises(NoPolicyLoaded):
        coord.lease().__enter__()
    outcome = coord.reload()
    try:
        assert outcome.ok and outcome.changed
        assert outcome.revision == revision_of(read_directory(policy_dir))
        status = coord.status()
        assert status["revision"] == outcome.revision
        assert status["counts"] == {
            "alert_groups": 3,
            "automatic_alerts": 6,
            "categories": 5,
            "files": 5,
            "user_groups": 3,
            "users": 6,
        }
        assert [f["path"] for f in status["files"]] == sorted(
            p.name for p in policy_dir.glob("*.yaml")
        )
        assert status["last_reload"]["ok"] is True
        assert status["loaded_at"].endswith("Z")
        assert sample(registry, "alertpolicy_config_reloads_total", {"result": "success"}) == 1
        assert sample(registry, "alertpolicy_config_last_reload_successful") == 1
        assert sample(registry, "alertpolicy_config_last_reload_success_timestamp_seconds")
        info = {"revision": outcome.revision, "git": ""}
        assert sample(registry, "alertpolicy_config_info", info) == 1
    finally:
        coord.close()


def test_the_info_metric_names_only_the_revision_serving(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    old = coordinator.current
    assert old is not None
    rename_user(policy_dir, "Jane Smith", "Jane Rolling")
    outcome = coordinator.reload()
    assert outcome.ok and outcome.revision != old.revision
    registry = coordinator.registry
    info = "alertpolicy_config_info"
    assert sample(registry, info, {"revision": outcome.revision, "git": ""}) == 1
    assert sample(registry, info, {"revision": old.revision, "git": ""}) is None


def test_a_broken_edit_keeps_the_last_good_revision_and_says_where(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    good = coordinator.current
    assert good is not None
    (policy_dir / "users.yaml").write_text("users:\n  jsmith: {name: [\n", encoding="utf-8")
    outcome = coordinator.reload()
    assert not outcome.ok
    assert coordinator.current is good
    assert outcome.revision == good.revision
    located = [p for p in outcome.errors if p.location and p.location.file.endswith("users.yaml")]
    assert located, outcome.errors
    assert located[0].location.line >= 1 and located[0].location.column >= 1
    status = coordinator.status()
    assert status["revision"] == good.revision
    assert status["last_reload"]["ok"] is False
    assert any(
        e["location"] and e["location"].endswith(f"users.yaml:{e['line']}:{e['column']}")
        for e in status["last_reload"]["errors"]
    )
    registry = coordinator.registry
    assert sample(registry, "alertpolicy_config_last_reload_successful") == 0
    assert sample(registry, "alertpolicy_config_reloads_total", {"result": "failure"}) == 1
    assert not good.compiled.closed


def test_a_fixed_edit_after_a_broken_one_recovers(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    original = (policy_dir / "users.yaml").read_text(encoding="utf-8")
    (policy_dir / "users.yaml").write_text(original + "  broken: [\n", encoding="utf-8")
    assert not coordinator.reload().ok
    (policy_dir / "users.yaml").write_text(
        original.replace("Tom Teach", "Thomas Teach"), encoding="utf-8"
    )
    outcome = coordinator.reload()
    assert outcome.ok and outcome.changed
    assert coordinator.current is not None
    assert coordinator.current.policy.users["tteach"].name == "Thomas Teach"


def test_an_unchanged_policy_is_not_rebuilt(coordinator: Coordinator) -> None:
    before = coordinator.current
    outcome = coordinator.reload()
    assert outcome.ok and not outcome.changed
    assert coordinator.current is before
    assert before is not None and not before.compiled.closed


@pytest.mark.parametrize(
    "damage",
    ["delete-file", "non-utf8", "half-written", "delete-directory"],
)
def test_damaged_files_fail_the_reload_without_harm(
    coordinator: Coordinator, policy_dir: Path, damage: str
) -> None:
    good = coordinator.current
    users = policy_dir / "users.yaml"
    if damage == "delete-file":
        users.unlink()
    elif damage == "non-utf8":
        users.write_bytes(users.read_bytes().replace(b"Tom Teach", b"Tom \xff\xfeTeach"))
    elif damage == "half-written":
        users.write_bytes(users.read_bytes()[: len(users.read_bytes()) // 2])
    else:
        shutil.rmtree(policy_dir)
    outcome = coordinator.reload()
    assert not outcome.ok
    assert outcome.errors
    assert coordinator.current is good


def test_an_unreadable_file_fails_the_reload(coordinator: Coordinator, policy_dir: Path) -> None:
    good = coordinator.current
    users = policy_dir / "users.yaml"
    users.unlink()
    users.symlink_to(policy_dir / "moved-away.yaml")  # a link to a file that is gone
    outcome = coordinator.reload()
    assert not outcome.ok
    assert outcome.errors[0].code == "policy-file-unreadable"
    assert "users.yaml" in str(outcome.errors[0].location)
    assert coordinator.current is good


def test_a_request_finishes_on_the_revision_it_started_on(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    with coordinator.lease() as old:
        rename_user(policy_dir, "Jane Smith", "Jane Smythe")
        assert coordinator.reload().changed
        new = coordinator.current
        assert new is not None and new is not old
        assert old.retired and not old.compiled.closed
        incident = parse_incident(BULLYING, old.policy)
        decision = evaluate_incident(old.compiled, incident)
        assert decision.policy_revision == old.revision
        names = {r.user: r.name for r in decision.recipients}
        assert names["jsmith"] == "Jane Smith"
    assert old.compiled.closed
    assert not new.compiled.closed


def test_the_last_of_several_leases_closes_a_retired_revision(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    first = coordinator.lease()
    second = coordinator.lease()
    old = first.__enter__()
    assert second.__enter__() is old
    rename_user(policy_dir, "Jane Smith", "Jane Smythe")
    coordinator.reload()
    first.__exit__(None, None, None)
    assert not old.compiled.closed
    second.__exit__(None, None, None)
    assert old.compiled.closed


def test_concurrent_reloads_and_decisions_stay_consistent(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    """Reloads from many threads while others decide: every decision is whole and named.

    The files are saved whole (temporary file + rename, as editors do), so every reload
    reads a valid policy and must succeed; the last one serves what is on disk.
    """
    names = [f"Tom Teach {i}" for i in range(6)]
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def decide() -> None:
        while not stop.is_set():
            try:
                with coordinator.lease() as revision:
                    incident = parse_incident(BULLYING, revision.policy)
                    decision = evaluate_incident(revision.compiled, incident)
                    assert decision.policy_revision == revision.revision
                    assert [r.user for r in decision.recipients] == [
                        "jsmith",
                        "mokafor",
                        "pdavies",
                        "rbrown",
                    ]
                    seen.add(decision.policy_revision)
            except BaseException as error:
                errors.append(error)
                return

    def reload(name: str) -> None:
        try:
            users = policy_dir / "users.yaml"
            renamed = users.read_text(encoding="utf-8").replace("Tom Teach", name)
            replace_file(users, renamed)
            outcome = coordinator.reload()
            assert outcome.ok, [problem.render() for problem in outcome.errors]
        except BaseException as error:
            errors.append(error)

    deciders = [threading.Thread(target=decide) for _ in range(4)]
    for thread in deciders:
        thread.start()
    original = (policy_dir / "users.yaml").read_text(encoding="utf-8")
    for name in names:
        replace_file(policy_dir / "users.yaml", original)
        reloaders = [threading.Thread(target=reload, args=(name,)) for _ in range(3)]
        for thread in reloaders:
            thread.start()
        for thread in reloaders:
            thread.join()
    stop.set()
    for thread in deciders:
        thread.join()
    assert not errors, errors
    assert coordinator.current is not None
    assert coordinator.current.revision == revision_of(read_directory(policy_dir))
    assert seen


@pytest.mark.skipif(sys.platform != "linux", reason="policies load in a forked child on Linux")
def test_a_reload_loads_the_policy_in_a_child_process_and_serves_the_same_policy(
    coordinator: Coordinator, policy_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rename_user(policy_dir, "Tom Teach", "Thomas Teach")
    with caplog.at_level(logging.INFO, logger="alertpolicy.reload"):
        outcome = coordinator.reload()
    assert outcome.ok and outcome.changed
    assert "in the serving process" not in caplog.text
    assert coordinator.current is not None
    assert coordinator.current.policy == load_policy(policy_dir)
    assert coordinator.current.policy.users["tteach"].name == "Thomas Teach"


def test_close_stops_serving(coordinator: Coordinator) -> None:
    revision = coordinator.current
    coordinator.close()
    assert coordinator.current is None
    assert revision is not None and revision.compiled.closed
    with pytest.raises(NoPolicyLoaded):
        coordinator.reload()


@pytest.mark.parametrize(
    ("relative", "is_dir", "relevant"),
    [
        ("users.yaml", False, True),
        ("academies/north/users.yml", False, True),
        ("academies", True, True),
        ("notes.txt", False, False),
        (".users.yaml.swp", False, False),
        (".git/index", False, False),
        ("tests/bullying.yaml", False, False),
        ("tests", True, False),
        ("", True, True),
    ],
)
def test_which_changes_concern_the_policy(relative: str, is_dir: bool, relevant: bool) -> None:
    root = Path("/srv/policy")
    path = str(root / relative) if relative else str(root)
    assert is_policy_path(root, path, is_dir) is relevant
    assert not is_policy_path(root, "/srv/README.md", False)


# ------------------------------------------------------------------- watcher


@pytest.fixture
def watched(coordinator: Coordinator) -> Iterator[PolicyWatcher]:
    """A running watcher on the coordinator (debounce 100 ms)."""
    watcher = PolicyWatcher(coordinator, debounce=0.1)
    watcher.start()
    yield watcher
    watcher.stop()


def reloads(coord: Coordinator) -> float:
    """How many reloads (of any result) the coordinator has run."""
    registry = coord.registry
    total = 0.0
    for result in ("success", "failure"):
        total += sample(registry, "alertpolicy_config_reloads_total", {"result": result}) or 0
    return total


def test_an_edit_on_disk_is_loaded(
    coordinator: Coordinator, watched: PolicyWatcher, policy_dir: Path
) -> None:
    before = coordinator.current
    rename_user(policy_dir, "Tom Teach", "Tom Teacher")
    assert wait_until(lambda: coordinator.current is not before)
    assert coordinator.current is not None
    assert coordinator.current.policy.users["tteach"].name == "Tom Teacher"


def test_a_burst_of_writes_is_one_reload(
    coordinator: Coordinator, watched: PolicyWatcher, policy_dir: Path
) -> None:
    start = reloads(coordinator)
    users = policy_dir / "users.yaml"
    original = users.read_text(encoding="utf-8")
    for i in range(20):
        users.write_text(original.replace("Tom Teach", f"Tom Teach {i}"), encoding="utf-8")
    assert wait_until(
        lambda: (
            coordinator.current is not None
            and coordinator.current.policy.users["tteach"].name == "Tom Teach 19"
        )
    )
    assert reloads(coordinator) - start <= 3


def test_a_directory_that_disappears_and_comes_back_is_watched_again(
    coordinator: Coordinator, watched: PolicyWatcher, policy_dir: Path
) -> None:
    good = coordinator.current
    parked = policy_dir.parent / "parked"
    policy_dir.rename(parked)
    assert wait_until(
        lambda: coordinator.last_reload is not None and not coordinator.last_reload.ok
    )
    assert coordinator.current is good
    shutil.copytree(parked, policy_dir)
    rename_user(policy_dir, "Tom Teach", "Tom Returned")
    assert wait_until(
        lambda: (
            coordinator.current is not None
            and coordinator.current.policy.users["tteach"].name == "Tom Returned"
        )
    )
    rename_user(policy_dir, "Tom Returned", "Tom Watched Again")
    assert wait_until(
        lambda: (
            coordinator.current is not None
            and coordinator.current.policy.users["tteach"].name == "Tom Watched Again"
        )
    )


def test_an_immediate_request_reloads_without_a_file_event(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    watcher = PolicyWatcher(coordinator, debounce=3600)
    watcher.start()
    try:
        start = reloads(coordinator)
        watcher.request_reload(immediate=True)
        assert wait_until(lambda: reloads(coordinator) > start)
    finally:
        watcher.stop()
