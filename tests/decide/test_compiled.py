"""Compiling a policy into durable-rules: fact-id collisions, lifecycle, failures.

(The matcher, ``engine/decide/matcher.py``, holds every touch of durable-rules.)"""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import durable_rules_engine
import pytest
from durable.engine import MessageObservedException, Ruleset

from alertpolicy.engine.decide.compiled import (
    CompiledPolicy,
    EngineError,
    PolicyClosedError,
    compile_policy,
    fact_hash,
    unique_fact_ids,
)
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.decide.matcher import DurableMatcher
from alertpolicy.engine.model import (
    AutomaticAlert,
    ChosenAlerts,
    Incident,
    Policy,
    Student,
    Targets,
    Triggers,
    User,
    UserGroup,
    frozen_map,
)
from tests.reference import reference_decision

DSL = UserGroup(
    "DSL",
    system_permissions=frozenset({"view_student_details", "view_students_list"}),
    category_permissions=frozen_map({"*": frozenset({"view_students", "view_incidents"})}),
)
JANE = User("jsmith", "Jane Smith", "jsmith@school.example", "DSL", key_holder=True)


def tutor_policy(students: tuple[str, ...], revision: str = "sha256:0000000000000000") -> Policy:
    """Jane Smith (DSL) is alerted about each of ``students`` by rule ``watch-list``."""
    return Policy(
        categories=("Bullying",),
        user_groups=frozen_map({"DSL": DSL}),
        users=frozen_map({"jsmith": JANE}),
        automatic_alerts=(
            AutomaticAlert("watch-list", Targets(users=("jsmith",)), Triggers(students=students)),
        ),
        revision=revision,
    )


def about(student: str, number: int = 1) -> Incident:
    """A bullying incident about one student, choosing nobody."""
    return Incident(f"INC-{number}", ("Bullying",), (Student(student, ("7A",)),), ChosenAlerts())


@cache
def colliding_student_ids() -> tuple[str, str]:
    """Two student ids whose trigger fact ids hash the same (found by brute force)."""
    prefix = 0x811C9DC5  # FNV-1a state after the common ASCII prefix, computed once
    for byte in b"trigger:student:":
        prefix = ((prefix ^ byte) * 16777619) & 0xFFFFFFFF
    seen: dict[int, str] = {}
    for number in itertools.count(1000):
        student = f"S{number}"
        digest = prefix
        for byte in student.encode():
            digest = ((digest ^ byte) * 16777619) & 0xFFFFFFFF
        if digest in seen:
            first = seen[digest]
            assert fact_hash(f"trigger:student:{first}") == fact_hash(f"trigger:student:{student}")
            return first, student
        seen[digest] = student
    raise AssertionError("unreachable")


def durable_refuses_second(first_id: str, second_id: str) -> bool:
    """Whether durable-rules itself refuses ``second_id`` after ``first_id`` as a duplicate."""

    class NoHost:
        pass

    # The rule stores facts with t == "x" but never fires (nothing has t == "never"); the
    # ruleset is deleted without delete_state, leaking two tiny facts per call.
    rule = {"all": [{"a": {"t": "x"}}, {"b": {"t": "never"}}], "run": _noop}
    rules = Ruleset("collision-probe", NoHost(), {"r": rule})
    try:
        rules.assert_facts([{"id": first_id, "sid": "0", "t": "x"}])
        try:
            rules.assert_facts([{"id": second_id, "sid": "0", "t": "x"}])
        except MessageObservedException:
            return True
        return False
    finally:
        durable_rules_engine.delete_ruleset(rules._handle)


def _noop(closure: object) -> None:
    """An action that is never run."""


def test_fact_hash_is_the_hash_durable_files_facts_under() -> None:
    first, second = colliding_student_ids()
    a, b = f"trigger:student:{first}", f"trigger:student:{second}"
    assert fact_hash(a) == fact_hash(b)
    assert durable_refuses_second(a, b)
    assert not durable_refuses_second(a, f"trigger:student:{first}X")


def test_fact_hash_sign_extends_non_ascii_bytes_like_durable() -> None:
    # Equal under durable's signed-char FNV-1a, different under textbook FNV-1a.
    first, second = "é828918", "é1212600"
    assert fact_hash(first) == fact_hash(second)
    assert durable_refuses_second(first, second)


def test_colliding_subscriptions_both_fire() -> None:
    first, second = colliding_student_ids()
    policy = tutor_policy((first, second))
    with compile_policy(policy) as compiled:
        ids = compiled.trigger_fact_ids
        assert len({fact_hash(i) for i in ids}) == len(ids) == 2
        assert any(i.endswith("#1") for i in ids)
        for number, student in enumerate((first, second)):
            decision = evaluate_incident(compiled, about(student, number))
            assert [r.user for r in decision.recipients] == ["jsmith"]
            assert decision.recipients[0].reasons[0].matched == (("student", student),)
            assert decision == reference_decision(policy, about(student, number))


def test_unique_fact_ids_resalts_only_the_colliding_id() -> None:
    first, second = colliding_student_ids()
    a, b = f"trigger:student:{first}", f"trigger:student:{second}"
    taken: set[int] = set()
    assert unique_fact_ids([a, b, "other"], taken) == [a, f"{b}#1", "other"]
    assert len(taken) == 3


def test_closing_many_revisions_in_a_loop_frees_them() -> None:
    for number in range(300):
        compiled = compile_policy(tutor_policy(("S1", f"S{number}"), f"sha256:{number:016x}"))
        assert evaluate_incident(compiled, about("S1")).recipients
        compiled.close()
        assert compiled.closed


def test_closing_twice_is_harmless_and_evaluating_after_close_is_an_error() -> None:
    compiled = compile_policy(tutor_policy(("S1",)))
    compiled.close()
    compiled.close()
    with pytest.raises(PolicyClosedError, match="was closed"):
        evaluate_incident(compiled, about("S1"))


def test_a_policy_without_automatic_alerts_compiles_evaluates_and_closes() -> None:
    policy = Policy(
        categories=("Bullying",),
        user_groups=frozen_map({"DSL": DSL}),
        users=frozen_map({"jsmith": JANE}),
        revision="sha256:1111111111111111",
    )
    with compile_policy(policy) as compiled:
        incident = Incident(
            "INC-1", ("Bullying",), (Student("S1"),), ChosenAlerts(users=("jsmith",))
        )
        assert [r.user for r in evaluate_incident(compiled, incident).recipients] == ["jsmith"]


def test_the_ruleset_stays_the_same_size_whatever_the_policy() -> None:
    small = compile_policy(tutor_policy(("S1",)))
    large = compile_policy(tutor_policy(tuple(f"S{n}" for n in range(3000))))
    try:
        assert small.matcher._ruleset.get_definition() == large.matcher._ruleset.get_definition()
        assert large.index.subscriptions == 3000
        assert evaluate_incident(large, about("S2999")).recipients
    finally:
        small.close()
        large.close()


def test_a_failure_inside_durable_is_an_error_not_a_shorter_answer(
    capfd: pytest.CaptureFixture[str],
) -> None:
    compiled = compile_policy(tutor_policy(("S1",)))
    try:
        # Occupy the id of the next incident fact, as a hash collision would.
        taken = compiled.matcher._incident_ids(1)[0]
        compiled.matcher._ruleset.assert_facts(
            [{"id": taken, "sid": "0", "t": "incident_trigger", "key": "student:nobody"}]
        )
        with pytest.raises(EngineError, match="durable-rules failed"):
            evaluate_incident(compiled, about("S1"))
        with pytest.raises(EngineError, match="unusable"):
            evaluate_incident(compiled, about("S1"))
    finally:
        compiled.close()
    assert capfd.readouterr() == ("", "")


def test_what_durable_logs_or_prints_while_failing_is_captured_into_the_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def noisy(*_: object) -> None:
        import logging

        print("durable printed this")
        logging.getLogger("durable").error("durable logged this")
        raise RuntimeError("boom")

    with (
        DurableMatcher("sha256:noisy", ["student:S1"]) as matcher,
        pytest.raises(EngineError) as failure,
    ):
        matcher._run("do something", noisy)
    assert "durable printed this" in str(failure.value)
    assert "durable logged this" in str(failure.value)
    assert capfd.readouterr() == ("", "")


def test_compiled_policy_is_a_context_manager_that_closes() -> None:
    with CompiledPolicy(tutor_policy(("S1",))) as compiled:
        assert evaluate_incident(compiled, about("S1")).recipients
    assert compiled.closed


@contextmanager
def no_cyclic_collection() -> Iterator[None]:
    """Within the block, only reference counting frees objects."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_closed_revision_is_freed_by_reference_counting() -> None:
    with no_cyclic_collection():
        policy = tutor_policy(("S1", "S2"))
        compiled = compile_policy(policy)
        assert evaluate_incident(compiled, about("S1")).recipients
        compiled.close()
        gone = weakref.ref(compiled), weakref.ref(policy)
        del compiled, policy
        assert [ref() for ref in gone] == [None, None]


def test_a_decision_leaves_durables_matched_frames_to_reference_counting() -> None:
    # durable-rules keeps each action's closure in a reference cycle; the frames of the
    # triggers an incident matched must not stay with it until the cyclic collector runs
    # (a large incident's are hundreds of objects, collected in the middle of decisions).
    students = tuple(f"S{n}" for n in range(200))
    with CompiledPolicy(tutor_policy(students)) as compiled, no_cyclic_collection():
        incident = Incident(
            "INC-1", ("Bullying",), tuple(Student(s, ("7A",)) for s in students), ChosenAlerts()
        )
        assert evaluate_incident(compiled, incident).recipients  # the first may set up caches
        before = len(gc.get_objects())
        for _ in range(5):
            assert evaluate_incident(compiled, incident).recipients
        left = len(gc.get_objects()) - before
    assert left < 5 * 50, f"{left} objects left for the cyclic collector by 5 decisions"
