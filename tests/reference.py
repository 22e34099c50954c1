"""The reference evaluator: SPEC section 4 written out plainly, rule by rule.

It shares no matching or gating code with the engine (``engine/decide/``): it looks at
every automatic alert of the policy for every incident. It is the oracle the engine is
tested against, not the thing that serves decisions.
"""

from __future__ import annotations

from alertpolicy.engine.decide.explain import (
    cannot_open_warning,
    nobody_alerted_warning,
    rejection_for,
)
from alertpolicy.engine.model import (
    Access,
    AutomaticAlert,
    Decision,
    DecisionWarning,
    Incident,
    MissingPermission,
    Policy,
    Reason,
    Recipient,
    Rejection,
    Withheld,
)


def reference_decision(policy: Policy, incident: Incident) -> Decision:
    """The decision for ``incident`` under ``policy``, computed the obvious way."""
    categories = sorted(set(incident.categories))
    reasons: dict[str, list[Reason]] = {}
    withheld: list[Withheld] = []

    # 4.1 Chosen alerts: chosen users and every member of each chosen alert group.
    for user_id in incident.alerts.users:
        if policy.users[user_id].active:
            reasons.setdefault(user_id, []).append(Reason("user"))
        else:
            withheld.append(Withheld(user_id, "user", "inactive"))
    for group_name in incident.alerts.alert_groups:
        for user_id in members_of_alert_group(policy, group_name):
            if policy.users[user_id].active:
                reasons.setdefault(user_id, []).append(Reason("alert_group", group_name))
            else:
                withheld.append(Withheld(user_id, "alert_group", "inactive", group_name))

    # 4.2 Automatic alerts: every rule is checked against the incident.
    for rule in policy.automatic_alerts:
        matched = what_matched(rule, incident)
        if matched is None:
            continue
        for user_id in notified_by(policy, rule):
            if not policy.users[user_id].active:
                withheld.append(Withheld(user_id, "automatic_alert", "inactive", rule=rule.id))
                continue
            missing = missing_alert_permissions(policy, user_id, categories)
            if missing:
                withheld.append(
                    Withheld(
                        user_id,
                        "automatic_alert",
                        "missing_permission",
                        rule=rule.id,
                        missing=tuple(sorted(missing)),
                    )
                )
            else:
                reason = Reason("automatic_alert", rule=rule.id, matched=tuple(matched.items()))
                reasons.setdefault(user_id, []).append(reason)

    # 4.3 Access, and the warning for chosen recipients who cannot open the incident.
    recipients = []
    warnings: list[DecisionWarning] = []
    for user_id in sorted(reasons):
        user = policy.users[user_id]
        access = access_of(policy, user_id, categories)
        recipients.append(
            Recipient(user_id, user.name, user.email, access, tuple(reasons[user_id]))
        )
        was_chosen = any(r.source in ("user", "alert_group") for r in reasons[user_id])
        if was_chosen and access == "none":
            warnings.append(cannot_open_warning(user))

    # 4.5 A recipient is never also withheld.
    withheld = [w for w in withheld if w.user not in reasons]

    # 4.4 Enforcement.
    rejection = enforcement(policy, incident, recipients)
    if rejection is not None:
        recipients = []
        warnings = []
    elif not recipients:
        warnings.append(nobody_alerted_warning())
    return Decision(
        incident=incident.id,
        policy_revision=policy.revision,
        accepted=rejection is None,
        rejection=rejection,
        recipients=tuple(recipients),
        withheld=tuple(withheld),
        warnings=tuple(warnings),
    )


def members_of_alert_group(policy: Policy, name: str) -> list[str]:
    """The users of an alert group: its listed users and every user of its user groups."""
    group = policy.alert_groups[name]
    members = set(group.users)
    for user in policy.users.values():
        if user.user_group in group.user_groups:
            members.add(user.id)
    return sorted(members)


def notified_by(policy: Policy, rule: AutomaticAlert) -> list[str]:
    """Every user an automatic alert notifies: users, user groups' users, alert groups'."""
    notified = set(rule.notify.users)
    for user in policy.users.values():
        if user.user_group in rule.notify.user_groups:
            notified.add(user.id)
    for group_name in rule.notify.alert_groups:
        notified.update(members_of_alert_group(policy, group_name))
    return sorted(notified)


def what_matched(rule: AutomaticAlert, incident: Incident) -> dict[str, str] | None:
    """``{kind: smallest matching value}`` if the rule fires for the incident, else None."""
    incident_values = {
        "category": set(incident.categories),
        "student": {s.id for s in incident.students},
        "student_group": {g for s in incident.students for g in s.groups},
    }
    listed = {
        "category": rule.when.categories,
        "student": rule.when.students,
        "student_group": rule.when.student_groups,
    }
    matched = {}
    for kind, values in listed.items():
        hits = sorted(v for v in values if v in incident_values[kind])
        if hits:
            matched[kind] = hits[0]
    kinds_listed = [kind for kind, values in listed.items() if values]
    if rule.match == "all":
        fires = all(kind in matched for kind in kinds_listed)
    else:
        fires = len(matched) > 0
    if not fires or not matched:
        return None
    return dict(sorted(matched.items()))


def missing_alert_permissions(
    policy: Policy, user_id: str, categories: list[str]
) -> list[MissingPermission]:
    """What the user's group lacks to receive an automatic alert ([] when it may)."""
    missing = []
    for category in categories:
        for permission in ("view_students", "view_incidents"):
            if not grants(policy, user_id, category, permission):
                missing.append(MissingPermission(category, permission))
    if policy.settings.automatic_alert_permission == "every_category":
        return missing
    for category in categories:
        if grants(policy, user_id, category, "view_students") and grants(
            policy, user_id, category, "view_incidents"
        ):
            return []
    return missing


def grants(policy: Policy, user_id: str, category: str, permission: str) -> bool:
    """Whether the user's group grants ``permission`` on ``category`` itself or on ``*``."""
    group = policy.user_groups[policy.users[user_id].user_group]
    on_category = group.category_permissions.get(category, frozenset())
    on_every_category = group.category_permissions.get("*", frozenset())
    return permission in on_category or permission in on_every_category


def access_of(policy: Policy, user_id: str, categories: list[str]) -> Access:
    """``full``, ``needs_key`` or ``none``: how far the user can open the incident."""
    user = policy.users[user_id]
    group = policy.user_groups[user.user_group]
    if policy.settings.automatic_alert_permission == "every_category":
        can_view = all(grants(policy, user_id, c, "view_incidents") for c in categories)
    else:
        can_view = any(grants(policy, user_id, c, "view_incidents") for c in categories)
    has_system = "view_student_details" in group.system_permissions and (
        "view_students_list" in group.system_permissions
    )
    if can_view and has_system and user.key_holder:
        return "full"
    if can_view and has_system:
        return "needs_key"
    return "none"


def enforcement(
    policy: Policy, incident: Incident, recipients: list[Recipient]
) -> Rejection | None:
    """The rejection SPEC 4.4 calls for, if any."""
    settings = policy.settings
    if not settings.enforce_at_least_one_alert:
        return None
    chose_someone = bool(incident.alerts.users or incident.alerts.alert_groups)
    if not chose_someone:
        automatic_recipient = any(
            reason.source == "automatic_alert" for r in recipients for reason in r.reasons
        )
        if automatic_recipient and settings.automatic_alerts_count_for_enforcement:
            return None
        return rejection_for("no_alert_chosen", settings)
    if not recipients:
        return rejection_for("no_recipients", settings)
    return None
