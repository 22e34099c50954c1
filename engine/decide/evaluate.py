"""Evaluate an incident against a compiled policy revision: the decision (SPEC 4 and 7).

durable-rules and the trigger index find which rules fire (:meth:`CompiledPolicy.fired`);
the routing rules (:mod:`alertpolicy.engine.rules`) say everything else — who each rule
and each chosen alert group names, the permission gate, class restrictions, access, the
warnings and enforcement.  This module only walks them in order: chosen alerts (4.1),
automatic alerts (4.2, 7.1-7.3), then each recipient's access and warnings (4.3), the
student groups the revision does not know (7.4), and enforcement (4.4).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from alertpolicy.engine import rules
from alertpolicy.engine.decide.compiled import CompiledPolicy
from alertpolicy.engine.decide.explain import (
    nobody_alerted_warning,
    recipient_warning,
    rejection_for,
    unknown_group_warning,
)
from alertpolicy.engine.model import (
    Decision,
    DecisionWarning,
    Incident,
    Reason,
    ReasonSource,
    Recipient,
    Withheld,
    WithheldReason,
)

Missing = rules.Missing


class _Held(NamedTuple):
    """Users withheld for one cause."""

    users: tuple[str, ...]
    source: ReasonSource
    reason: WithheldReason
    alert_group: str | None = None
    rule: str | None = None
    missing: Missing = ()


@dataclass
class _Routing:
    """Who an incident reaches so far: reasons per user and withheld entries."""

    compiled: CompiledPolicy
    incident: Incident
    categories: tuple[str, ...]
    reasons: defaultdict[str, list[Reason]] = field(default_factory=lambda: defaultdict(list))
    """Every reason each user is reached for (repeats allowed: a recipient drops them)."""
    chosen: set[str] = field(default_factory=set)
    """Users reached because the reporter chose them or one of their alert groups."""
    withheld: list[_Held] = field(default_factory=list)
    """Withheld entries, each for some users (recipients among them are dropped at the end)."""
    seen: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """What each class-restricted user reached so far sees of the incident's students."""
    automatic: bool = False
    """Whether an automatic alert reaches anyone."""

    def sees(self, user_id: str) -> tuple[str, ...] | None:
        """The incident's students ``user_id`` sees; ``None`` when they are not restricted."""
        restricted_to = self.compiled.restrictions.get(user_id)
        if restricted_to is None:
            return None
        found = self.seen.get(user_id)
        if found is None:
            found = self.seen[user_id] = rules.sees_students(restricted_to, self.incident.students)
        return found


def evaluate_incident(compiled: CompiledPolicy, incident: Incident) -> Decision:
    """The decision for ``incident`` under the policy revision ``compiled``.

    Thread-safe. Raises :class:`.EngineError` (never a shorter recipient
    list) if durable-rules fails, and :class:`.PolicyClosedError` after close.
    """
    values = incident.trigger_values()
    fired = compiled.fired(values)
    routing = _Routing(compiled, incident, tuple(sorted(values["category"])))
    _route_chosen(routing)
    _route_automatic(routing, fired)
    return _decide(routing, values["student_group"])


def _route_chosen(routing: _Routing) -> None:
    compiled, alerts = routing.compiled, routing.incident.alerts
    users = compiled.policy.users
    for user_id in set(alerts.users):
        if users[user_id].active:
            routing.reasons[user_id].append(Reason("user"))
            routing.chosen.add(user_id)
        else:
            routing.withheld.append(_Held((user_id,), "user", "inactive"))
    for group in set(alerts.alert_groups):
        reason = Reason("alert_group", alert_group=group)
        for user_id in compiled.alert_group_members[group]:
            if users[user_id].active:
                routing.reasons[user_id].append(reason)
                routing.chosen.add(user_id)
            else:
                routing.withheld.append(_Held((user_id,), "alert_group", "inactive", group))


def _route_automatic(routing: _Routing, fired: dict[int, rules.Matched]) -> None:
    """Each fired rule's users: withheld when inactive, when the gate stops their user
    group, or when restricted and seeing none of the students; reached otherwise.

    Rules notifying the same people share a table (:attr:`CompiledPolicy.tables`): the
    fired rules are gathered per table first, so that each table's users are walked once.
    """
    compiled = routing.compiled
    fixed, rule_table = compiled.fixed_reasons, compiled.rule_table
    by_table: dict[int, list[int]] = {}
    reasons_of: dict[int, list[Reason]] = {}
    for index, matched in fired.items():
        reason = fixed.get(index) or compiled.reason(index, matched)
        table = rule_table[index]
        found = by_table.get(table)
        if found is None:
            by_table[table] = [index]
            reasons_of[table] = [reason]
        else:
            found.append(index)
            reasons_of[table].append(reason)
    gate, categories = compiled.permissions.gate, routing.categories
    reasons, withheld, rule_ids = routing.reasons, routing.withheld, compiled.rule_ids
    new, why = tuple.__new__, "missing_permission"  # the named tuple's own __new__ is slower
    for table, indexes in by_table.items():
        active, inactive = compiled.tables[table]
        if inactive:
            for index in indexes:
                rule = rule_ids[index]
                withheld.append(_Held(inactive, "automatic_alert", "inactive", rule=rule))
        given = reasons_of[table]
        for group, free, restricted in active:
            missing = gate(group, categories)  # remembered by the permissions
            if missing is not None:
                named = free + restricted
                for index in indexes:
                    withheld.append(
                        new(_Held, (named, "automatic_alert", why, None, rule_ids[index], missing))
                    )
                continue
            if free:
                routing.automatic = True
            for user_id in free:
                reasons[user_id].extend(given)
            for user_id in restricted:
                if routing.sees(user_id):
                    reasons[user_id].extend(given)
                    routing.automatic = True
                else:
                    for index in indexes:
                        rule = rule_ids[index]
                        withheld.append(
                            _Held((user_id,), "automatic_alert", "class_restriction", rule=rule)
                        )


def _decide(routing: _Routing, student_groups: frozenset[str]) -> Decision:
    compiled, incident = routing.compiled, routing.incident
    policy, permissions = compiled.policy, compiled.permissions
    recipients: list[Recipient] = []
    warnings: list[DecisionWarning] = []
    restricted = compiled.restrictions
    for user_id in sorted(routing.reasons):  # sorted, so the decision's own sort is cheap
        user, reasons = policy.users[user_id], routing.reasons[user_id]
        opens = permissions.may_open(user.user_group, routing.categories)
        sees = routing.sees(user_id) if restricted and user_id in restricted else None
        access = permissions.access(user_id, opens, sees)
        recipients.append(Recipient.reached(user_id, user.name, user.email, access, reasons, sees))
        chosen = user_id in routing.chosen
        for code in rules.recipient_warnings(policy.settings, chosen, opens, sees):
            warnings.append(recipient_warning(code, user, compiled.restrictions.get(user_id)))
    withheld: list[Withheld] = []
    new = tuple.__new__  # the named tuple's own constructor is a Python function
    restrictions, reached = compiled.restrictions, routing.reasons
    for held in routing.withheld:
        fields = (held.source, held.reason, held.alert_group, held.rule, held.missing)
        for user_id in held.users:
            if user_id not in reached:
                restricted_to = (
                    restrictions.get(user_id, ()) if held.reason == "class_restriction" else ()
                )
                withheld.append(new(Withheld, (user_id, *fields, restricted_to)))
    rejected = rules.rejection_code(
        policy.settings, not incident.alerts.is_empty(), routing.automatic, bool(recipients)
    )
    if rejected is not None:
        recipients, warnings = [], []
    elif not recipients:
        warnings.append(nobody_alerted_warning())
    for group, similar in compiled.group_names.unknown(student_groups):
        warnings.append(unknown_group_warning(group, similar, compiled.group_names.declared))
    return Decision(
        incident=incident.id,
        policy_revision=policy.revision,
        accepted=rejected is None,
        rejection=rejection_for(rejected, policy.settings) if rejected is not None else None,
        recipients=tuple(recipients),
        withheld=tuple(withheld),
        warnings=tuple(warnings),
    )
