"""Evaluate an incident against a compiled policy revision: the decision (SPEC section 4).

durable-rules finds which automatic-alert subscriptions the incident's categories, students
and student groups match (:meth:`CompiledPolicy.matching_subscriptions`); everything after
that — match any/all, who each rule notifies, the permission gate, access, enforcement and
warnings — is assembled here from the typed policy and the tables compiled per revision,
so the work per incident is proportional to its matches, not to the policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.compile import CompiledPolicy, Subscription, trigger_key
from engine.explain import cannot_open_warning, nobody_alerted_warning, rejection_for
from engine.model import (
    ALERT_PERMISSIONS,
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

    reasons: dict[str, set[Reason]] = field(default_factory=dict)
    withheld: list[Withheld] = field(default_factory=list)

    def reach(self, user: str, reason: Reason) -> None:
        self.reasons.setdefault(user, set()).add(reason)


def evaluate_incident(compiled: CompiledPolicy, incident: Incident) -> Decision:
    """The decision for ``incident`` under the policy revision ``compiled``.

    Thread-safe. Raises :class:`engine.compile.EngineError` (never a shorter recipient
    list) if durable-rules fails, and :class:`engine.compile.PolicyClosedError` after close.
    """
    policy = compiled.policy
    categories = tuple(sorted(set(incident.categories)))
    keys = [
        trigger_key(kind, value)
        for kind, values in incident.trigger_values().items()
        for value in values
    ]
    fired = fired_rules(compiled, compiled.matching_subscriptions(keys))
    routing = _Routing()
    _route_chosen(compiled, incident, routing)
    _route_automatic(compiled, fired, categories, routing)
    return _decide(policy, incident, categories, routing)


def fired_rules(
    compiled: CompiledPolicy, matches: Iterable[Subscription]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """Rules that fire, by index, with ``matched``: the smallest value per matched kind."""
    matched: dict[int, dict[str, str]] = {}
    for sub in matches:
        kinds = matched.setdefault(sub.rule, {})
        if sub.kind not in kinds or sub.value < kinds[sub.kind]:
            kinds[sub.kind] = sub.value
    rules = compiled.policy.automatic_alerts
    fired: dict[int, tuple[tuple[str, str], ...]] = {}
    for index, kinds in matched.items():
        if rules[index].match == "all" and set(kinds) != compiled.rule_kinds[index]:
            continue
        fired[index] = tuple(sorted(kinds.items()))
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
        for user_id in compiled.rule_recipients[index]:
            user = policy.users[user_id]
            if not user.active:
                routing.withheld.append(Withheld(user_id, "automatic_alert", "inactive", rule=rule))
                continue
            if user.user_group not in gates:
                gates[user.user_group] = _gate(
                    policy.user_groups[user.user_group], categories, mode
                )
            missing = gates[user.user_group]
            if missing is None:
                routing.reach(user_id, Reason("automatic_alert", rule=rule, matched=matched))
            else:
                routing.withheld.append(
                    Withheld(
                        user_id, "automatic_alert", "missing_permission", rule=rule, missing=missing
                    )
                )


def _gate(
    group: UserGroup, categories: tuple[str, ...], mode: str
) -> tuple[MissingPermission, ...] | None:
    """``None`` if the group may receive automatic alerts here, else what it lacks."""
    missing = tuple(
        sorted(
            MissingPermission(category, permission)
            for category in categories
            for permission in ALERT_PERMISSIONS
            if not group.grants(category, permission)
        )
    )
    if not missing:
        return None
    if mode == "any_category":
        lacking = {m.category for m in missing}
        if any(category not in lacking for category in categories):
            return None
    return missing


def _access(policy: Policy, user_id: str, categories: tuple[str, ...]) -> Access:
    user = policy.users[user_id]
    group = policy.user_groups[user.user_group]
    views = [group.grants(category, "view_incidents") for category in categories]
    if policy.settings.automatic_alert_permission == "any_category":
        may_view = any(views)
    else:
        may_view = all(views)
    if not (
        may_view
        and group.has_system("view_student_details")
        and group.has_system("view_students_list")
    ):
        return "none"
    return "full" if user.key_holder else "needs_key"


def _decide(
    policy: Policy, incident: Incident, categories: tuple[str, ...], routing: _Routing
) -> Decision:
    recipients: list[Recipient] = []
    warnings: list[Warning] = []
    for user_id, reasons in routing.reasons.items():
        user = policy.users[user_id]
        access = _access(policy, user_id, categories)
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
