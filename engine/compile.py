"""Compile one policy revision into a durable-rules ruleset plus facts.

The ruleset is FIXED and tiny (one join rule, the same for every policy); the policy becomes
facts: one *subscription* fact per (automatic alert, trigger kind, trigger value).  To
evaluate an incident, one *incident trigger* fact per (kind, value) of the incident is
asserted into the revision's single long-lived session; the join on the string key
``"<kind>:<value>"`` (indexed, equality only) hands every matching subscription to one
synchronous action; the incident facts are then retracted.  Everything durable-rules does
for a revision happens under that revision's lock (the C core is not thread-safe).

durable-rules identifies a fact by a 32-bit FNV-1a hash of its ``id`` (the raw JSON text of
the string, each byte sign-extended as a C ``char``) and never compares the ids themselves:
a second fact whose id hashes the same is refused, and retracting one removes the other.
So every fact id of a revision is assigned here and re-salted until its hash is unique.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import durable_rules_engine
from durable.engine import Ruleset

from engine.model import AutomaticAlert, Policy, TriggerKind

if TYPE_CHECKING:
    from engine.model import Decision, Incident

SESSION = "0"
"""The one durable session of a revision (``delete_state(None)`` frees exactly this one)."""
STATE_FACT_ID = f"sid-{SESSION}"
"""The id durable gives the session's own state message; it shares the fact id space."""
LOAD_CHUNK = 1000
"""Facts per ``assert_facts`` call while loading, so a reload never holds the GIL for long."""
MATCH_CAP = 1000
"""Matches handed to one Python action call."""
PROBE_KEY = "probe:alertpolicy"
"""Trigger key of the self-test subscription (no incident trigger key looks like it)."""
PROBE = -1
"""Subscription number of the self-test subscription."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 16777619
_ruleset_serial = itertools.count(1)
_serial_lock = threading.Lock()


class EngineError(RuntimeError):
    """durable-rules failed while compiling or evaluating: the answer cannot be trusted."""


class PolicyClosedError(EngineError):
    """The compiled policy was closed (replaced by a newer revision) and cannot evaluate."""


def fact_hash(fact_id: str) -> int:
    """The 32-bit hash durable-rules files a fact under, computed as its C core does.

    FNV-1a over the bytes of the id as JSON-encoded by durable (``ensure_ascii=False``,
    quotes stripped), each byte sign-extended like a C ``char``.
    """
    value = _FNV_OFFSET
    for byte in json.dumps(fact_id, ensure_ascii=False)[1:-1].encode("utf-8"):
        value ^= byte | 0xFFFFFF00 if byte >= 0x80 else byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def unique_fact_ids(base_ids: Iterable[str], taken: set[int]) -> list[str]:
    """``base_ids`` made hash-unique against ``taken`` (updated in place), order kept.

    An id whose hash is already taken gets ``#1``, ``#2``, ... appended until it is free.
    """
    out: list[str] = []
    for base in base_ids:
        candidate, salt = base, 0
        while fact_hash(candidate) in taken:
            salt += 1
            candidate = f"{base}#{salt}"
        taken.add(fact_hash(candidate))
        out.append(candidate)
    return out


def trigger_key(kind: TriggerKind, value: str) -> str:
    """The join key of a trigger: ``"category:Bullying"``, ``"student:S1001"``..."""
    return f"{kind}:{value}"


@dataclass(frozen=True)
class Subscription:
    """One automatic alert listening for one trigger value: a fact in the ruleset."""

    rule: int
    """Index of the rule in ``Policy.automatic_alerts``."""
    kind: TriggerKind
    value: str


def subscriptions_of(policy: Policy) -> tuple[Subscription, ...]:
    """Every (rule, kind, value) an automatic alert listens for, duplicates dropped."""
    subs: dict[tuple[int, str, str], Subscription] = {}
    for index, rule in enumerate(policy.automatic_alerts):
        for kind, values in rule.when.by_kind().items():
            for value in values:
                subs.setdefault((index, kind, value), Subscription(index, kind, value))
    return tuple(subs[k] for k in sorted(subs))


def alert_group_members(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Each alert group's user ids at this revision: its users plus its user groups' users."""
    by_group: dict[str, list[str]] = {}
    for user in policy.users.values():
        by_group.setdefault(user.user_group, []).append(user.id)
    members: dict[str, tuple[str, ...]] = {}
    for name, group in policy.alert_groups.items():
        ids = set(group.users)
        for user_group in group.user_groups:
            ids.update(by_group.get(user_group, ()))
        members[name] = tuple(sorted(ids))
    return members


def _notified_users(
    rule: AutomaticAlert,
    users_by_group: Mapping[str, Sequence[str]],
    members: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    ids = set(rule.notify.users)
    for user_group in rule.notify.user_groups:
        ids.update(users_by_group.get(user_group, ()))
    for alert_group in rule.notify.alert_groups:
        ids.update(members.get(alert_group, ()))
    return tuple(sorted(ids))


class _Host:
    """The minimal host ``durable.engine.Ruleset`` needs: actions are given as callables."""

    def get_action(self, action_name: str) -> Callable:
        """Named actions are never used; asking for one is a programming error."""
        raise EngineError(f"durable-rules asked for unknown action {action_name!r}")


class CompiledPolicy:
    """One policy revision loaded into durable-rules, ready to evaluate incidents.

    Thread-safe: every touch of durable-rules is serialised by this revision's lock.
    Call :meth:`close` when the revision is retired; it frees the ruleset and its facts.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.revision = policy.revision
        self.subscriptions = subscriptions_of(policy)
        self.alert_group_members = alert_group_members(policy)
        users_by_group: dict[str, list[str]] = {}
        for user in policy.users.values():
            users_by_group.setdefault(user.user_group, []).append(user.id)
        self.rule_recipients: tuple[tuple[str, ...], ...] = tuple(
            _notified_users(rule, users_by_group, self.alert_group_members)
            for rule in policy.automatic_alerts
        )
        self.rule_kinds: tuple[frozenset[str], ...] = tuple(
            frozenset(rule.when.by_kind()) for rule in policy.automatic_alerts
        )
        self._lock = threading.Lock()
        self._closed = False
        self._broken: str | None = None
        self._session_ready = False
        self._found: list[int] = []
        self._action_error: BaseException | None = None
        taken = {fact_hash(STATE_FACT_ID)}
        [self._probe_fact_id] = unique_fact_ids(["sub:probe"], taken)
        self.subscription_fact_ids = unique_fact_ids(
            (
                f"sub:{policy.automatic_alerts[s.rule].id}:{s.kind}:{s.value}"
                for s in self.subscriptions
            ),
            taken,
        )
        self._taken_hashes = taken
        self._incident_fact_ids: list[str] = []
        with _serial_lock:
            serial = next(_ruleset_serial)
        self.ruleset_name = f"alertpolicy-{serial}-{policy.revision or 'unversioned'}"
        self._ruleset = Ruleset(self.ruleset_name, _Host(), self._definition())
        try:
            self._open_session()
            self._load_subscriptions()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ durable-rules

    def _definition(self) -> dict:
        """The fixed ruleset: incident trigger joined to subscriptions on the trigger key."""
        return {
            "subscription_matches": {
                "all": [
                    {"incident": {"t": "incident_trigger"}},
                    {
                        "subscription": {
                            "$and": [{"t": "subscription"}, {"key": {"incident": "key"}}]
                        }
                    },
                ],
                "cap": MATCH_CAP,
                "run": self._collect,
            }
        }

    def _collect(self, closure: object) -> None:
        """The ruleset's action: record the subscription index of every match."""
        try:
            for frame in closure.m:  # type: ignore[attr-defined]
                self._found.append(int(frame._d["subscription"]["n"]))
        except BaseException as error:  # durable would swallow it into the session state
            self._action_error = error

    def _open_session(self) -> None:
        """Create the revision's session and prove it works by matching a probe.

        durable-rules 2.0.28 leaves a new session's action context uninitialised until an
        action has run in it, and ``delete_state`` then frees garbage pointers (segfault).
        So a session's first facts are a probe subscription and a probe incident trigger
        that must find exactly it; only then may :meth:`close` delete the session.
        """
        probe = {
            "id": self._probe_fact_id,
            "sid": SESSION,
            "t": "subscription",
            "key": PROBE_KEY,
            "n": str(PROBE),
        }
        with self._lock:
            self._call("create the session", self._ruleset.assert_facts, [probe])
            found = self._match([PROBE_KEY])
            self._session_ready = True
        if found != [PROBE]:
            raise EngineError(f"durable-rules failed its self-test: found {found}, not [{PROBE}]")

    def _load_subscriptions(self) -> None:
        facts = [
            {
                "id": fact_id,
                "sid": SESSION,
                "t": "subscription",
                "key": trigger_key(sub.kind, sub.value),
                "n": str(index),
            }
            for index, (sub, fact_id) in enumerate(
                zip(self.subscriptions, self.subscription_fact_ids, strict=True)
            )
        ]
        for start in range(0, len(facts), LOAD_CHUNK):
            with self._lock:
                self._call(
                    "load the policy", self._ruleset.assert_facts, facts[start : start + LOAD_CHUNK]
                )

    def _call(self, what: str, func: Callable, *args: object) -> object:
        try:
            return func(*args)
        except Exception as error:
            detail = getattr(error, "message", None) or str(error) or type(error).__name__
            raise EngineError(f"durable-rules failed to {what}: {detail}") from error

    def _incident_ids(self, count: int) -> list[str]:
        while len(self._incident_fact_ids) < count:
            self._incident_fact_ids += unique_fact_ids(
                [f"incident:{len(self._incident_fact_ids)}"], self._taken_hashes
            )
        return self._incident_fact_ids[:count]

    def matching_subscriptions(self, keys: Iterable[str]) -> list[Subscription]:
        """Every subscription whose trigger key is among ``keys`` (found by durable-rules).

        Raises :class:`PolicyClosedError` after :meth:`close`, :class:`EngineError` when
        durable-rules fails (the revision is then unusable: it never answers short).
        """
        with self._lock:
            self._check_usable()
            try:
                found = self._match(keys)
                if found and not 0 <= found[0] <= found[-1] < len(self.subscriptions):
                    raise EngineError(f"durable-rules returned unknown subscriptions {found}")
            except BaseException:
                self._broken = "an earlier evaluation failed inside durable-rules"
                raise
        return [self.subscriptions[i] for i in found]

    def _match(self, keys: Iterable[str]) -> list[int]:
        """Numbers of the subscriptions matching ``keys``, sorted; caller holds the lock."""
        unique = sorted(set(keys))
        facts = [
            {"id": fact_id, "sid": SESSION, "t": "incident_trigger", "key": key}
            for fact_id, key in zip(self._incident_ids(len(unique)), unique, strict=True)
        ]
        self._found = []
        self._action_error = None
        if facts:
            self._run_actions(facts)
        found, self._found = self._found, []
        return sorted(set(found))

    def _run_actions(self, facts: list[dict]) -> None:
        try:
            state = self._call("assert the incident", self._ruleset.assert_facts, facts)
            outcome: list[BaseException | None] = []
            self._ruleset.do_actions(state, lambda error, _state: outcome.append(error))
            if not outcome:
                raise EngineError("durable-rules did not finish the incident's actions")
            if outcome[0] is not None:
                raise EngineError(f"durable-rules action failed: {outcome[0]}") from outcome[0]
            if self._action_error is not None:
                raise EngineError("collecting matches failed") from self._action_error
        finally:
            self._call("retract the incident", self._ruleset.retract_facts, facts)

    def _check_usable(self) -> None:
        if self._closed:
            raise PolicyClosedError(f"policy revision {self.revision} was closed")
        if self._broken:
            raise EngineError(f"policy revision {self.revision} is unusable: {self._broken}")

    # ------------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def evaluate(self, incident: Incident) -> Decision:
        """The decision for ``incident`` (see :func:`engine.evaluate.evaluate_incident`)."""
        from engine.evaluate import evaluate_incident

        return evaluate_incident(self, incident)

    def close(self) -> None:
        """Free the ruleset and every fact of this revision. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._session_ready:
                    self._ruleset.delete_state(None)
            finally:
                durable_rules_engine.delete_ruleset(self._ruleset._handle)

    def __enter__(self) -> CompiledPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Load ``policy`` into a fresh durable-rules ruleset (one per revision)."""
    return CompiledPolicy(policy)
