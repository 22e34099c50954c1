"""Compile one policy revision into a durable-rules ruleset plus facts.

The ruleset is FIXED and tiny (one join rule, the same for every policy); the policy becomes
facts: one *subscription* fact per trigger (kind, value) that at least one automatic alert
listens for, standing for every (rule, kind, value) subscription on it.  To evaluate an
incident, one *incident trigger* fact per (kind, value) of the incident is asserted into the
revision's single long-lived session; the join on the string key ``"<kind>:<value>"``
(indexed, equality only) hands every matching subscription fact to one synchronous action;
the incident facts are then retracted.  One fact per trigger rather than per (rule,
trigger) keeps durable's work proportional to the incident's triggers.  Everything
durable-rules does for a revision happens under that revision's lock (the C core is not
thread-safe).

Which rules a matched trigger stands for is indexed here, per revision: the rules it fires
by itself, and the ``match: all`` rules on several kinds, as sets per kind combination, so
that evaluation intersects a few sets instead of testing every rule that shares one trigger
(in a multi-academy trust, every academy's rules share the category triggers).  So are who
each rule notifies, split into the inactive and the active per user group, and what each
user group lacks per category for automatic alerts.

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

from alertpolicy.engine.errors import EngineError, PolicyClosedError
from alertpolicy.engine.model import (
    ALERT_PERMISSIONS,
    AutomaticAlert,
    Policy,
    Reason,
    TriggerKind,
    UserGroup,
)

if TYPE_CHECKING:
    from alertpolicy.engine.model import Decision, Incident

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
        digest = fact_hash(candidate)
        while digest in taken:
            salt += 1
            candidate = f"{base}#{salt}"
            digest = fact_hash(candidate)
        taken.add(digest)
        out.append(candidate)
    return out


def trigger_key(kind: TriggerKind, value: str) -> str:
    """The join key of a trigger: ``"category:Bullying"``, ``"student:S1001"``..."""
    return f"{kind}:{value}"


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


ActiveByGroup = tuple[tuple[str, tuple[str, ...]], ...]
"""(user group, active user ids) pairs, sorted by user group."""


def _active_by_group(policy: Policy, user_ids: Iterable[str]) -> ActiveByGroup:
    groups: dict[str, list[str]] = {}
    for user_id in user_ids:
        user = policy.users[user_id]
        if user.active:
            groups.setdefault(user.user_group, []).append(user_id)
    return tuple((name, tuple(groups[name])) for name in sorted(groups))


def _lacking(group: UserGroup, category: str) -> tuple[str, ...]:
    return tuple(sorted(p for p in ALERT_PERMISSIONS if not group.grants(category, p)))


@dataclass(frozen=True)
class Trigger:
    """One trigger key of a revision (a durable fact) and the rules listening for it."""

    kind: TriggerKind
    value: str
    alone: tuple[int, ...]
    """Rules this trigger fires by itself: ``match: any``, or ``match: all`` on one kind."""
    jointly: tuple[tuple[tuple[TriggerKind, ...], frozenset[int]], ...]
    """``match: all`` rules on several kinds, grouped by the kinds they list (sorted)."""


@dataclass(frozen=True)
class TriggerIndex:
    """Which automatic alerts listen for which trigger keys, at one revision."""

    triggers: Mapping[str, Trigger]
    """Every trigger key the policy listens for, sorted, with its trigger."""
    joint_values: Mapping[int, Mapping[str, frozenset[str]]]
    """Per ``match: all`` rule on several kinds (by index): the values it lists, by kind."""
    fixed_matched: Mapping[int, tuple[tuple[str, str], ...]]
    """Per rule whose ``matched`` is the same whenever it fires (it lists one value of one
    kind, or is ``match: all`` listing one value of each kind): that ``matched``."""
    subscriptions: int
    """How many distinct (rule, kind, value) subscriptions the triggers stand for."""


def index_triggers(policy: Policy) -> TriggerIndex:
    """The trigger keys ``policy`` listens for and the rules listening for each."""
    kind_value: dict[str, tuple[TriggerKind, str]] = {}
    alone: dict[str, list[int]] = {}
    jointly: dict[str, dict[tuple[TriggerKind, ...], set[int]]] = {}
    joint_values: dict[int, dict[str, frozenset[str]]] = {}
    fixed_matched: dict[int, tuple[tuple[str, str], ...]] = {}
    subscriptions = 0
    for index, rule in enumerate(policy.automatic_alerts):
        by_kind = rule.when.by_kind()
        joint = rule.match == "all" and len(by_kind) > 1
        if joint:
            combo = tuple(sorted(by_kind))
            joint_values[index] = {kind: frozenset(values) for kind, values in by_kind.items()}
        if (joint or len(by_kind) == 1) and all(len(set(v)) == 1 for v in by_kind.values()):
            fixed_matched[index] = tuple((kind, by_kind[kind][0]) for kind in sorted(by_kind))
        for kind, values in by_kind.items():
            for value in sorted(set(values)):
                key = trigger_key(kind, value)
                kind_value[key] = (kind, value)
                subscriptions += 1
                if joint:
                    jointly.setdefault(key, {}).setdefault(combo, set()).add(index)
                else:
                    alone.setdefault(key, []).append(index)
    triggers = {}
    for key in sorted(kind_value):
        combos = jointly.get(key, {})
        triggers[key] = Trigger(
            *kind_value[key],
            alone=tuple(alone.get(key, ())),
            jointly=tuple((combo, frozenset(combos[combo])) for combo in sorted(combos)),
        )
    return TriggerIndex(triggers, joint_values, fixed_matched, subscriptions)


class _Matches:
    """Where the ruleset's action records the trigger facts one evaluation matched.

    Kept apart from :class:`CompiledPolicy` so that durable-rules' reference to the action
    does not make the revision part of a reference cycle.
    """

    def __init__(self) -> None:
        self.found: list[int] = []
        self.error: BaseException | None = None

    def reset(self) -> None:
        """Forget the previous evaluation."""
        self.found, self.error = [], None

    def take(self) -> list[int]:
        """The numbers matched since :meth:`reset`, handed over once."""
        found, self.found = self.found, []
        return found

    def collect(self, closure: object) -> None:
        """The ruleset's action: record the number of every matched trigger fact."""
        try:
            for frame in closure.m:  # type: ignore[attr-defined]
                self.found.append(int(frame._d["subscription"]["n"]))
        except BaseException as error:  # durable would swallow it into the session state
            self.error = error


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
        self.index = index_triggers(policy)
        """Which automatic alerts listen for which trigger keys."""
        self.trigger_keys: tuple[str, ...] = tuple(self.index.triggers)
        """Every trigger key the policy listens for, sorted: one durable fact each."""
        self.triggers: tuple[Trigger, ...] = tuple(self.index.triggers.values())
        """The trigger of each of :attr:`trigger_keys`, same order."""
        self.fixed_reasons: dict[int, Reason] = {
            rule: Reason("automatic_alert", rule=policy.automatic_alerts[rule].id, matched=matched)
            for rule, matched in self.index.fixed_matched.items()
        }
        """Per rule whose ``matched`` never changes: the reason it gives whenever it fires."""
        self._lacking = {
            name: {category: _lacking(group, category) for category in policy.categories}
            for name, group in policy.user_groups.items()
        }
        self.alert_group_members = alert_group_members(policy)
        users_by_group: dict[str, list[str]] = {}
        for user in policy.users.values():
            users_by_group.setdefault(user.user_group, []).append(user.id)
        notified: list[tuple[ActiveByGroup, tuple[str, ...]]] = []
        split: dict[tuple[str, ...], tuple[ActiveByGroup, tuple[str, ...]]] = {}
        for rule in policy.automatic_alerts:
            ids = _notified_users(rule, users_by_group, self.alert_group_members)
            if ids not in split:  # rules notifying the same people share the tables
                inactive = tuple(u for u in ids if not policy.users[u].active)
                split[ids] = (_active_by_group(policy, ids), inactive)
            notified.append(split[ids])
        self.rule_active_by_group: tuple[ActiveByGroup, ...] = tuple(a for a, _ in notified)
        """Per rule: (user group, its active notified users) pairs, sorted."""
        self.rule_inactive: tuple[tuple[str, ...], ...] = tuple(i for _, i in notified)
        """Per rule: the inactive users it notifies."""
        self._lock = threading.Lock()
        self._closed = False
        self._broken: str | None = None
        self._session_ready = False
        self._matches = _Matches()
        taken = {fact_hash(STATE_FACT_ID)}
        [self._probe_fact_id] = unique_fact_ids(["sub:probe"], taken)
        self.trigger_fact_ids = unique_fact_ids(
            (f"trigger:{key}" for key in self.trigger_keys), taken
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

    def lacking(self, user_group: str, category: str) -> tuple[str, ...]:
        """The permissions automatic alerts need that ``user_group`` lacks on ``category``.

        Sorted; empty when the group has both.
        """
        found = self._lacking[user_group].get(category)
        if found is None:
            return _lacking(self.policy.user_groups[user_group], category)
        return found

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
                "run": self._matches.collect,
            }
        }

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
                "key": key,
                "n": str(index),
            }
            for index, (key, fact_id) in enumerate(
                zip(self.trigger_keys, self.trigger_fact_ids, strict=True)
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

    def matching_triggers(self, keys: Iterable[str]) -> list[Trigger]:
        """The policy's triggers among the trigger keys ``keys`` (found by durable-rules).

        Sorted by trigger key. Raises :class:`PolicyClosedError` after :meth:`close`,
        :class:`EngineError` when durable-rules fails (the revision is then unusable: it
        never answers short).
        """
        with self._lock:
            self._check_usable()
            try:
                found = self._match(keys)
                if found and not 0 <= found[0] <= found[-1] < len(self.trigger_keys):
                    raise EngineError(f"durable-rules returned unknown triggers {found}")
            except BaseException:
                self._broken = "an earlier evaluation failed inside durable-rules"
                raise
        return [self.triggers[i] for i in found]

    def _match(self, keys: Iterable[str]) -> list[int]:
        """Numbers of the trigger facts matching ``keys``, sorted; caller holds the lock."""
        unique = sorted(set(keys))
        facts = [
            {"id": fact_id, "sid": SESSION, "t": "incident_trigger", "key": key}
            for fact_id, key in zip(self._incident_ids(len(unique)), unique, strict=True)
        ]
        self._matches.reset()
        if facts:
            self._run_actions(facts)
        found = self._matches.take()
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
            if self._matches.error is not None:
                raise EngineError("collecting matches failed") from self._matches.error
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
        """The decision for ``incident`` (see :func:`.evaluate_incident`)."""
        from alertpolicy.engine.decide.evaluate import evaluate_incident

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
