"""The coordinator on real files: reloads, leases, the coverage guard, the state directory."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import NotHeld, NotReady, PolicyError
from alertpolicy.engine.load.files import read_directory, revision_of
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.metrics import ReloadMetrics
from alertpolicy.engine.serve.state import AcceptedStore
from tests.serve.support import SMALL_SCHOOL, edit, incident

BULLYING = incident("small-school-bullying")


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the small-school policy that the test may edit."""
    target = tmp_path / "policy"
    shutil.copytree(SMALL_SCHOOL, target)
    return target


def make(policy_dir: Path, **options: object) -> Coordinator:
    """A coordinator over ``policy_dir`` building in reload children, metrics subscribed."""
    coordinator = Coordinator(policy_dir, RevisionBuilder(), **options)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    coordinator.subscribe(ReloadMetrics(registry).record)
    coordinator.registry = registry  # type: ignore[attr-defined]
    return coordinator


@pytest.fixture
def coordinator(policy_dir: Path) -> Iterator[Coordinator]:
    """A started coordinator over ``policy_dir`` (guard on, no state directory)."""
    coord = make(policy_dir)
    assert coord.start().ok
    yield coord
    coord.close()


def sample(coordinator: Coordinator, name: str, labels: dict[str, str] | None = None) -> float:
    registry: CollectorRegistry = coordinator.registry  # type: ignore[attr-defined]
    return registry.get_sample_value(name, labels or {}) or 0.0


def recipients(coordinator: Coordinator, raw: dict[str, object] = BULLYING) -> list[str]:
    with coordinator.lease() as revision:
        decision = evaluate_incident(revision.compiled, parse_incident(raw, revision.policy))
    return [r.user for r in decision.recipients]


# ------------------------------------------------------------------- reloading


def test_the_first_load_serves_the_policy_and_reports_it(policy_dir: Path) -> None:
    coord = make(policy_dir)
    with pytest.raises(NotReady, match="no valid policy"):
        coord.lease().__enter__()
    outcome = coord.start()
    try:
        assert outcome.ok and outcome.changed and outcome.held is None
        assert outcome.revision == revision_of(read_directory(policy_dir))
        assert coord.current is not None and coord.current.policy == load_policy(policy_dir)
        assert recipients(coord) == ["jsmith", "mokafor", "pdavies", "rbrown"]
        assert sample(coord, "alertpolicy_config_reloads_total", {"result": "success"}) == 1
        info = {"revision": outcome.revision, "git": ""}
        assert sample(coord, "alertpolicy_config_info", info) == 1
    finally:
        coord.close()


def test_an_invalid_policy_at_start_raises_every_error(tmp_path: Path) -> None:
    coord = make(Path("tests/testdata/policies/unknown-user-group"))
    with pytest.raises(PolicyError) as raised:
        coord.start()
    assert raised.value.problems[0].location is not None


def test_a_broken_edit_keeps_the_last_good_revision_and_says_where(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    good = coordinator.current
    (policy_dir / "users.yaml").write_text("users:\n  jsmith: {name: [\n", encoding="utf-8")
    outcome = coordinator.reload()
    assert not outcome.ok and coordinator.current is good
    assert outcome.revision == good.revision  # type: ignore[union-attr]
    assert any(p.location and p.location.file.endswith("users.yaml") for p in outcome.errors)
    assert sample(coordinator, "alertpolicy_config_last_reload_successful") == 0
    assert not good.compiled.closed  # type: ignore[union-attr]


def test_an_unchanged_policy_is_not_rebuilt_unless_forced(coordinator: Coordinator) -> None:
    before = coordinator.current
    assert not coordinator.reload().changed and coordinator.current is before
    forced = coordinator.reload(force=True)
    assert forced.ok and not forced.changed and forced.how == "forced"
    assert coordinator.current is not before  # rebuilt: a fresh engine for the same revision
    assert coordinator.current.revision == before.revision  # type: ignore[union-attr]
    assert before.compiled.closed  # type: ignore[union-attr]


def test_a_request_finishes_on_the_revision_it_started_on(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    with coordinator.lease() as old:
        edit(policy_dir, "Jane Smith", "Jane Smythe")
        assert coordinator.reload().changed
        assert old.retired and not old.compiled.closed
        decision = evaluate_incident(old.compiled, parse_incident(BULLYING, old.policy))
        assert {r.user: r.name for r in decision.recipients}["jsmith"] == "Jane Smith"
    assert old.compiled.closed
    assert not coordinator.current.compiled.closed  # type: ignore[union-attr]


def test_reloads_from_many_threads_while_others_decide_stay_consistent(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def decide() -> None:
        while not stop.is_set():
            try:
                assert recipients(coordinator) == ["jsmith", "mokafor", "pdavies", "rbrown"]
            except BaseException as error:
                errors.append(error)
                return

    deciders = [threading.Thread(target=decide) for _ in range(3)]
    for thread in deciders:
        thread.start()
    for n in range(4):
        users = policy_dir / "users.yaml"
        text = users.read_text(encoding="utf-8").replace("Tom Teach", f"Tom Teach {n}")
        with tempfile.NamedTemporaryFile("w", dir=policy_dir, suffix=".tmp", delete=False) as f:
            f.write(text)
        Path(f.name).replace(users)
        reloads = [threading.Thread(target=coordinator.reload) for _ in range(2)]
        for thread in reloads:
            thread.start()
        for thread in reloads:
            thread.join()
    stop.set()
    for thread in deciders:
        thread.join()
    assert not errors, errors
    assert coordinator.current.revision == revision_of(read_directory(policy_dir))  # type: ignore[union-attr]


def test_close_stops_serving(coordinator: Coordinator) -> None:
    revision = coordinator.current
    coordinator.close()
    assert revision is not None and revision.compiled.closed
    with pytest.raises(NotReady, match="shutting down"):
        coordinator.lease().__enter__()


# ------------------------------------------------------------------- the guard


def test_deleting_the_rules_file_is_held_with_every_reason(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    serving = coordinator.current
    (policy_dir / "automatic_alerts.yaml").unlink()
    outcome = coordinator.reload()
    assert outcome.ok and not outcome.changed and outcome.newly_held
    assert coordinator.current is serving
    held = coordinator.held
    assert held is not None and held.revision == revision_of(read_directory(policy_dir))
    codes = [reason.code for reason in held.reasons]
    assert "guard-file-lost" in codes and "guard-routes-lost" in codes
    assert codes.count("guard-warning-added") == 5  # every category is now unalerted
    lost = next(r for r in held.reasons if r.code == "guard-file-lost")
    assert "automatic_alerts.yaml" in lost.message and "self-harm-to-dsls" in lost.message
    routes = next(r for r in held.reasons if r.code == "guard-routes-lost")
    assert "9 of the 15" in routes.message and "jsmith" in routes.message
    assert "S1042" not in routes.message  # student triggers are counted, never named
    assert recipients(coordinator) == ["jsmith", "mokafor", "pdavies", "rbrown"]
    assert sample(coordinator, "alertpolicy_config_held") == 1


def test_emptying_a_file_is_held_and_writing_it_back_clears_the_hold(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    rules = policy_dir / "automatic_alerts.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text("# being rewritten\n", encoding="utf-8")
    assert coordinator.reload().held is not None
    assert "guard-file-emptied" in [r.code for r in coordinator.held.reasons]  # type: ignore[union-attr]
    rules.write_text(text, encoding="utf-8")
    outcome = coordinator.reload()
    assert outcome.ok and outcome.held is None and coordinator.held is None
    assert sample(coordinator, "alertpolicy_config_held") == 0


def test_renaming_or_splitting_a_file_is_not_a_loss(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    (policy_dir / "automatic_alerts.yaml").rename(policy_dir / "rules.yaml")
    outcome = coordinator.reload()
    assert outcome.changed and outcome.held is None


def test_a_small_loss_passes_and_a_lower_threshold_holds_it(
    policy_dir: Path,
) -> None:
    def drop_the_student_rule() -> None:
        edit(
            policy_dir,
            "  - id: looked-after-student-to-dsl\n    description: A looked-after child; "
            "the DSL is the designated teacher\n    notify: {users: [jsmith]}\n"
            '    when: {students: ["S1042"]}\n',
            "",
            "automatic_alerts.yaml",
        )

    relaxed = make(policy_dir)
    relaxed.start()
    original = (policy_dir / "automatic_alerts.yaml").read_text(encoding="utf-8")
    drop_the_student_rule()
    assert relaxed.reload().changed  # 1 of 15 routes: 6.7%, under 10%
    relaxed.close()
    (policy_dir / "automatic_alerts.yaml").write_text(original, encoding="utf-8")

    strict = make(policy_dir, max_route_loss=0.05)
    strict.start()
    drop_the_student_rule()
    held = strict.reload().held
    assert held is not None and [r.code for r in held.reasons] == ["guard-routes-lost"]
    assert "1 of the 15" in held.reasons[0].message
    strict.close()


def test_the_guard_off_serves_any_valid_revision(policy_dir: Path) -> None:
    coord = make(policy_dir, max_route_loss=None)
    coord.start()
    (policy_dir / "automatic_alerts.yaml").unlink()
    assert coord.reload().changed
    assert recipients(coord) == ["jsmith", "pdavies"]  # the DSLs chosen by hand
    coord.close()


def test_a_held_revision_is_served_when_accepted_by_name(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    (policy_dir / "automatic_alerts.yaml").unlink()
    held = coordinator.reload().held
    assert held is not None
    with pytest.raises(NotHeld, match=held.revision):
        coordinator.accept("sha256:0000000000000000")
    outcome = coordinator.accept(held.revision)
    assert outcome.ok and outcome.changed and outcome.how == "accept"
    assert coordinator.current.revision == held.revision  # type: ignore[union-attr]
    assert coordinator.held is None
    with pytest.raises(NotHeld, match="no revision is held"):
        coordinator.accept(held.revision)


def test_a_later_revision_that_passes_replaces_the_held_one(
    coordinator: Coordinator, policy_dir: Path
) -> None:
    rules = policy_dir / "automatic_alerts.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.unlink()
    assert coordinator.reload().held is not None
    rules.write_text(text, encoding="utf-8")
    edit(policy_dir, "Tom Teach", "Tom Teacher")
    outcome = coordinator.reload()
    assert outcome.changed and coordinator.held is None
    assert coordinator.current.policy.users["tteach"].name == "Tom Teacher"  # type: ignore[union-attr]


# ------------------------------------------------------------------- the state directory


def test_a_restart_serves_the_kept_revision_and_holds_the_one_that_lost_coverage(
    policy_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = make(policy_dir, accepted=AcceptedStore(state, policy_dir))
    kept = first.start().revision
    first.close()
    (policy_dir / "automatic_alerts.yaml").unlink()

    again = make(policy_dir, accepted=AcceptedStore(state, policy_dir))
    outcome = again.start()
    try:
        assert outcome.revision == kept and outcome.held is not None
        assert again.current.revision == kept  # type: ignore[union-attr]
        assert recipients(again) == ["jsmith", "mokafor", "pdavies", "rbrown"]
        assert again.accept(outcome.held.revision).changed
        assert AcceptedStore(state, policy_dir).revision() == outcome.held.revision
    finally:
        again.close()


def test_a_kept_revision_that_no_longer_loads_is_ignored(policy_dir: Path, tmp_path: Path) -> None:
    store = AcceptedStore(tmp_path / "state", policy_dir)
    first = make(policy_dir, accepted=store)
    first.start()
    first.close()
    store.path.write_text(store.path.read_text().replace("sha256:", "sha256:0"), "utf-8")
    edit(policy_dir, "Tom Teach", "Tom Kept")
    again = make(policy_dir, accepted=store)
    try:
        assert again.start().held is None
        assert again.current.policy.users["tteach"].name == "Tom Kept"  # type: ignore[union-attr]
    finally:
        again.close()


def test_a_restarted_worker_on_broken_files_falls_back_to_the_kept_revision(
    policy_dir: Path, tmp_path: Path
) -> None:
    store = AcceptedStore(tmp_path / "state", policy_dir)
    first = make(policy_dir, accepted=store)
    kept = first.start().revision
    first.close()
    (policy_dir / "users.yaml").write_text("users: [\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        make(policy_dir, accepted=store).start()
    worker = make(policy_dir, accepted=store)
    outcome = worker.start(fall_back=True)
    assert not outcome.ok and outcome.revision == kept and outcome.errors
    assert recipients(worker) == ["jsmith", "mokafor", "pdavies", "rbrown"]
    worker.close()
