"""Evaluate an incident against a compiled policy revision: the decision (SPEC section 4).

durable-rules finds which of the policy's trigger keys the incident's categories, students
and student groups match (:meth:`CompiledPolicy.matching_triggers`); everything after that
— which rules fire (``match: any``/``all``), who each rule notifies, the permission gate,
access, enforcement and warnings — is assembled here from the typed policy and the tables
compiled per revision, so the work per incident is proportional to what it matches and
whom it reaches, not to the size of the policy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from alertpolicy.engine.decide.compiled import CompiledPolicy, trigger_key
from alertpolicy.engine.decide.explain import (
    cannot_open_warning,
    nobody_alerted_warning,
    rejection_for,
)
from alertpolicy.engine.model import (
    Access,
    Decision,
    DecisionWarning,
    Incident,
    MissingPermission,
    Policy,
    Reason,
    ReasonSource,
    Recipient,
    Rejection,
    UserGroup,
    Withheld,
    WithheldReason,
)

Missing = tuple[MissingPermission, ...]
"""Category permissions a user group lacks, sorted."""
Matched = tuple[tuple[str, str], ...]
"""A fired rule's ``matched``: (kind, smallest matching value) pairs, sorted by kind."""


_Held = tuple[tuple[str, ...], ReasonSource, WithheldReason, str | None, str | None, Missing | None]
"""Users withheld for one cause: (users, source, reason, alert group, rule, missing)."""


@dataclass
class _Routing:
    """Who an incident reaches so far: reasons per user and withheld entries."""

    reasons: defaultdict[str, list[Reason]] = field(default_factory=lambda: defaultdict(list))
    """Every reason each user is reached for (repeats allowed: a recipient drops them)."""
    chosen: set[str] = field(default_factory=set)
    """Users reached because the reporter chose them or one of their alert groups."""
    withheld: list[_Held] = field(default_factory=list)
    """Withheld entries, each for some users (recipients among them are dropped at the end)."""

    def reach(self, user: str, reason: Reason) -> None:
        """Record that ``user`` receives the alert for ``reason``."""
        self.reasons[user].append(reason)


def evaluate_incident(compiled: CompiledPolicy, incident: Incident) -> Decision:
    """The decision for ``incident`` under the policy revision ``compiled``.

    Thread-safe. Raises :class:`.EngineError` (never a shorter recipient
    list) if durable-rules fails, and :class:`.PolicyClosedError` after close.
    """
    categories = tuple(sorted(set(incident.categories)))
    fired = fired_rules(compiled, incident)
    routing = _Routing()
    _route_chosen(compiled, incident, routing)
    _route_automatic(compiled, fired, categories, routing)
    return _decide(compiled.policy, incident, categories, routing)


def fired_rules(compiled: CompiledPolicy, incident: Incident) -> dict[int, Matched]:
    """Rules that fire for ``incident``, by index, with ``matched``.

    ``matched`` holds, for each trigger kind that matched, the smallest matching value.
    """
    values = incident.trigger_values()
    keys = [trigger_key(kind, value) for kind, of_kind in values.items() for value in of_kind]
    matched: dict[int, dict[str, str]] = {}
    reached: dict[tuple[str, ...], dict[str, list[frozenset[int]]]] = {}
    # Triggers come sorted by key, so kinds arrive in sorted order and, within a kind, the
    # first value seen is the smallest.
    for trigger in compiled.matching_triggers(keys):
        kind = trigger.kind
        for rule in trigger.alone:
            kinds = matched.get(rule)
            if kinds is None:
                matched[rule] = {kind: trigger.value}
            elif kind not in kinds:
                kinds[kind] = trigger.value
        for combo, rules in trigger.jointly:
            by_kind = reached.setdefault(combo, {})
            if kind in by_kind:
                by_kind[kind].append(rules)
            else:
                by_kind[kind] = [rules]
    fired = {rule: tuple(kinds.items()) for rule, kinds in matched.items()}
    for combo, by_kind in reached.items():
        if len(by_kind) < len(combo):
            continue
        for rule in _in_every_kind(list(by_kind.values())):
            if rule in compiled.index.fixed_matched:
                fired[rule] = compiled.index.fixed_matched[rule]
                continue
            listed = compiled.index.joint_values[rule]
            fired[rule] = tuple([(kind, min(listed[kind] & values[kind])) for kind in combo])
    return fired


def _in_every_kind(sets_by_kind: list[list[frozenset[int]]]) -> set[int]:
    """The rules found in at least one set of every kind.

    Intersects set by set rather than uniting each kind's sets first: an intersection only
    walks the smaller set, and the first one already leaves few rules.
    """
    sets_by_kind.sort(key=lambda sets: sum(map(len, sets)))
    partial: list[frozenset[int]] = sets_by_kind[0]
    for sets in sets_by_kind[1:]:
        partial = [common for a in partial for b in sets if (common := a & b)]
    return set().union(*partial)


def _route_chosen(compiled: CompiledPolicy, incident: Incident, routing: _Routing) -> None:
    users = compiled.policy.users
    for user_id in set(incident.alerts.users):
        if users[user_id].active:
            routing.reach(user_id, Reason("user"))
            routing.chosen.add(user_id)
        else:
            routing.withheld.append(((user_id,), "user", "inactive", None, None, None))
    for group in set(incident.alerts.alert_groups):
        reason = Reason("alert_group", alert_group=group)
        for user_id in compiled.alert_group_members[group]:
            if users[user_id].active:
                routing.reach(user_id, reason)
                routing.chosen.add(user_id)
            else:
                routing.withheld.append(((user_id,), "alert_group", "inactive", group, None, None))


def _route_automatic(
    compiled: CompiledPolicy,
    fired: dict[int, Matched],
    categories: tuple[str, ...],
    routing: _Routing,
) -> None:
    policy = compiled.policy
    mode = policy.settings.automatic_alert_permission
    gates: dict[str, Missing | None] = {}
    reasons, withheld = routing.reasons, routing.withheld
    for index, matched in fired.items():
        rule = policy.automatic_alerts[index].id
        if compiled.rule_inactive[index]:
            inactive = compiled.rule_inactive[index]
            withheld.append((inactive, "automatic_alert", "inactive", None, rule, None))
        reason = compiled.fixed_reasons.get(index) or Reason(
            "automatic_alert", rule=rule, matched=matched
        )
        for group, user_ids in compiled.rule_active_by_group[index]:
            if group in gates:
                missing = gates[group]
            else:
                missing = gates[group] = _gate(compiled, group, categories, mode)
            if missing is not None:
                withheld.append(
                    (user_ids, "automatic_alert", "missing_permission", None, rule, missing)
                )
                continue
            for user_id in user_ids:
                reasons[user_id].append(reason)


def _gate(
    compiled: CompiledPolicy, group: str, categories: tuple[str, ...], mode: str
) -> Missing | None:
    """``None`` if the user group may receive automatic alerts here, else what it lacks."""
    missing = tuple(
        MissingPermission(category, permission)
        for category in categories  # sorted, and each category's permissions sorted
        for permission in compiled.lacking(group, category)
    )
    if not missing:
        return None
    if mode == "any_category":
        lacking = {m.category for m in missing}
        if any(category not in lacking for category in categories):
            return None
    return missing


def _may_open(policy: Policy, group: UserGroup, categories: tuple[str, ...]) -> bool:
    """Whether users of ``group`` may open the incident (given the key, if needed)."""
    views = [group.grants(category, "view_incidents") for category in categories]
    if policy.settings.automatic_alert_permission == "any_category":
        may_view = any(views)
    else:
        may_view = all(views)
    return (
        may_view
        and group.has_system("view_student_details")
        and group.has_system("view_students_list")
    )


def _decide(
    policy: Policy, incident: Incident, categories: tuple[str, ...], routing: _Routing
) -> Decision:
    recipients: list[Recipient] = []
    warnings: list[DecisionWarning] = []
    may_open: dict[str, bool] = {}
    for user_id in sorted(routing.reasons):  # sorted, so the decision's own sort is cheap
        user, reasons = policy.users[user_id], routing.reasons[user_id]
        if user.user_group not in may_open:
            group = policy.user_groups[user.user_group]
            may_open[user.user_group] = _may_open(policy, group, categories)
        access: Access = "none"
        if may_open[user.user_group]:
            access = "full" if user.key_holder else "needs_key"
        recipients.append(Recipient(user_id, user.name, user.email, access, tuple(reasons)))
        if access == "none" and user_id in routing.chosen:
            warnings.append(cannot_open_warning(user))
    withheld = tuple(
        Withheld(user_id, source, why, alert_group, rule, missing or ())
        for user_ids, source, why, alert_group, rule, missing in routing.withheld
        for user_id in user_ids
        if user_id not in routing.reasons
    )
    rejection = _enforce(policy, incident, recipients)
    if rejection is not None:
        recipients, warnings = [], []
    elif not recipients:
        warnings.append(nobody_alerted_warning())
    return Decision(
        incident=incident.id,
        policy_revision=policy.revision,
        accepted=rejection is None,
        rejection=rejection,
        recipients=tuple(recipients),
        withheld=withheld,
        warnings=tuple(warnings),
    )


def _enforce(policy: Policy, incident: Incident, recipients: list[Recipient]) -> Rejection | None:
    settings = policy.settings
    if not settings.enforce_at_least_one_alert:
        return None
    if incident.alerts.is_empty():
        automatic_reached = any(
            reason.source == "automatic_alert" for r in recipients for reason in r.reasons
        )
        if settings.automatic_alerts_count_for_enforcement and automatic_reached:
            return None
        return rejection_for("no_alert_chosen", settings)
    if not recipients:
        return rejection_for("no_recipients", settings)
    return None
