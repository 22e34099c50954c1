"""Evaluate an incident against a compiled policy revision: the decision (SPEC section 4).

durable-rules finds which automatic-alert subscriptions the incident's categories, students
and student groups match (:meth:`CompiledPolicy.matching_subscriptions`); everything after
that — match any/all, who each rule notifies, the permission gate, access, enforcement and
warnings — is assembled here from the typed policy and the tables compiled per revision,
so the work per incident is proportional to its matches, not to the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.compile import CompiledPolicy, trigger_key
from engine.explain import cannot_open_warning, nobody_alerted_warning, rejection_for
from engine.model import (
    Access,
    Decision,
    Incident,
    MissingPermission,
    Policy,
    Reason,
    Recipient,
    Rejection,
    UserGroup,
    Warning,
    Withheld,
)


@dataclass
class _Routing:
    """Who an incident reaches so far: reasons per user and withheld entries."""

    reasons: dict[str, list[Reason]] = field(default_factory=dict)
    """Every reason each user is reached for (repeats allowed: a recipient drops them)."""
    withheld: list[Withheld] = field(default_factory=list)

    def reach(self, user: str, reason: Reason) -> None:
        """Record that ``user`` receives the alert for ``reason``."""
        reasons = self.reasons.get(user)
        if reasons is None:
            self.reasons[user] = [reason]
        else:
            reasons.append(reason)


def evaluate_incident(compiled: CompiledPolicy, incident: Incident) -> Decision:
    """The decision for ``incident`` under the policy revision ``compiled``.

    Thread-safe. Raises :class:`engine.compile.EngineError` (never a shorter recipient
    list) if durable-rules fails, and :class:`engine.compile.PolicyClosedError` after close.
    """
    categories = tuple(sorted(set(incident.categories)))
    fired = fired_rules(compiled, incident)
    routing = _Routing()
    _route_chosen(compiled, incident, routing)
    _route_automatic(compiled, fired, categories, routing)
    return _decide(compiled.policy, incident, categories, routing)


def fired_rules(
    compiled: CompiledPolicy, incident: Incident
) -> dict[int, tuple[tuple[str, str], ...]]:
    """Rules that fire for ``incident``, by index, with ``matched``.

    ``matched`` holds, for each trigger kind that matched, the smallest matching value.
    """
    values = incident.trigger_values()
    keys = [
        trigger_key(kind, value) for kind, kind_values in values.items() for value in kind_values
    ]
    triggers = compiled.matching_triggers(keys)
    matched: dict[int, dict[str, str]] = {}
    reached: dict[frozenset[str], dict[str, set[int]]] = {}
    for trigger in triggers:  # sorted by key, so the first value seen per kind is smallest
        for rule in trigger.alone:
            kinds = matched.get(rule)
            if kinds is None:
                matched[rule] = {trigger.kind: trigger.value}
            elif trigger.kind not in kinds:
                kinds[trigger.kind] = trigger.value
        for combo, rules in trigger.jointly:
            reached.setdefault(combo, {}).setdefault(trigger.kind, set()).update(rules)
    fired = {rule: tuple(sorted(kinds.items())) for rule, kinds in matched.items()}
    for combo, by_kind in reached.items():
        if len(by_kind) < len(combo):
            continue
        for rule in set.intersection(*by_kind.values()):
            listed = compiled.joint_values[rule]
            fired[rule] = tuple(sorted((kind, min(listed[kind] & values[kind])) for kind in combo))
    return fired


def _route_chosen(compiled: CompiledPolicy, incident: Incident, routing: _Routing) -> None:
    users = compiled.policy.users
    for user_id in set(incident.alerts.users):
        if users[user_id].active:
            routing.reach(user_id, Reason("user"))
        else:
            routing.withheld.append(Withheld(user_id, "user", "inactive"))
    for group in set(incident.alerts.alert_groups):
        for user_id in compiled.alert_group_members[group]:
            if users[user_id].active:
                routing.reach(user_id, Reason("alert_group", alert_group=group))
            else:
                routing.withheld.append(
                    Withheld(user_id, "alert_group", "inactive", alert_group=group)
                )


def _route_automatic(
    compiled: CompiledPolicy,
    fired: dict[int, tuple[tuple[str, str], ...]],
    categories: tuple[str, ...],
    routing: _Routing,
) -> None:
    policy = compiled.policy
    mode = policy.settings.automatic_alert_permission
    gates: dict[str, tuple[MissingPermission, ...] | None] = {}
    for index, matched in fired.items():
        rule = policy.automatic_alerts[index].id
        for user_id in compiled.rule_inactive[index]:
            routing.withheld.append(Withheld(user_id, "automatic_alert", "inactive", rule=rule))
        reason = Reason("automatic_alert", rule=rule, matched=matched)
        for group, user_ids in compiled.rule_active_by_group[index]:
            if group not in gates:
                gates[group] = _gate(compiled, group, categories, mode)
            missing = gates[group]
            if missing is None:
                for user_id in user_ids:
                    routing.reach(user_id, reason)
            else:
                routing.withheld += [
                    Withheld(
                        user_id, "automatic_alert", "missing_permission", rule=rule, missing=missing
                    )
                    for user_id in user_ids
                ]


def _gate(
    compiled: CompiledPolicy, group: str, categories: tuple[str, ...], mode: str
) -> tuple[MissingPermission, ...] | None:
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
    warnings: list[Warning] = []
    may_open: dict[str, bool] = {}
    for user_id, reasons in routing.reasons.items():
        user = policy.users[user_id]
        if user.user_group not in may_open:
            group = policy.user_groups[user.user_group]
            may_open[user.user_group] = _may_open(policy, group, categories)
        access: Access = "none"
        if may_open[user.user_group]:
            access = "full" if user.key_holder else "needs_key"
        recipients.append(Recipient(user_id, user.name, user.email, access, tuple(reasons)))
        chosen = any(reason.source != "automatic_alert" for reason in reasons)
        if chosen and access == "none":
            warnings.append(cannot_open_warning(user))
    withheld = tuple(w for w in routing.withheld if w.user not in routing.reasons)
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
