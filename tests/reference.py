"""The reference evaluator: SPEC sections 4 and 7 written out plainly, rule by rule.

It shares no code with the routing rules (``engine/rules/``) or the engine
(``engine/decide/``): it looks at every automatic alert of the policy for every incident,
and reads sub-categories, class restrictions, the permission override and declared
student groups straight from the SPEC. It is the oracle the product is tested against,
not the thing that serves decisions. (Only the wording of messages is shared.)
"""

from __future__ import annotations

import unicodedata
from functools import cache

from confusable_homoglyphs import confusables

from alertpolicy.engine.decide.explain import (
    cannot_open_warning,
    cannot_see_warning,
    nobody_alerted_warning,
    rejection_for,
    unknown_group_warning,
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
        found = what_matched(policy, rule, incident)
        if found is None:
            continue
        matched, via_parent = found
        for user_id in notified_by(policy, rule):
            if not policy.users[user_id].active:
                withheld.append(Withheld(user_id, "automatic_alert", "inactive", rule=rule.id))
                continue
            missing = missing_alert_permissions(policy, user_id, categories)
            restricted_to = restriction(policy, user_id)
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
            elif restricted_to is not None and not visible(restricted_to, incident):
                # 7.2: a restricted user is alerted only about students they can see.
                withheld.append(
                    Withheld(
                        user_id,
                        "automatic_alert",
                        "class_restriction",
                        rule=rule.id,
                        restricted_to=restricted_to,
                    )
                )
            else:
                reason = Reason(
                    "automatic_alert",
                    rule=rule.id,
                    matched=tuple(matched.items()),
                    via_parent=via_parent,
                )
                reasons.setdefault(user_id, []).append(reason)

    # 4.3 Access, and the warnings for recipients who cannot open the incident (chosen
    # ones; every one when the gate is off, 7.3) or cannot see its students (7.2).
    recipients = []
    warnings: list[DecisionWarning] = []
    for user_id in sorted(reasons):
        user = policy.users[user_id]
        restricted_to = restriction(policy, user_id)
        sees = None if restricted_to is None else visible(restricted_to, incident)
        access = access_of(policy, user_id, categories)
        if sees == ():
            access = "none"
        recipients.append(
            Recipient.reached(user_id, user.name, user.email, access, reasons[user_id], sees)
        )
        was_chosen = any(r.source in ("user", "alert_group") for r in reasons[user_id])
        gate_off = policy.settings.automatic_alert_permission == "none"
        if (was_chosen or gate_off) and access_of(policy, user_id, categories) == "none":
            warnings.append(cannot_open_warning(user))
        if was_chosen and sees == ():
            warnings.append(cannot_see_warning(user, restricted_to or ()))

    # 4.5 A recipient is never also withheld.
    withheld = [w for w in withheld if w.user not in reasons]

    # 4.4 Enforcement.
    rejection = enforcement(policy, incident, recipients)
    if rejection is not None:
        recipients = []
        warnings = []
    elif not recipients:
        warnings.append(nobody_alerted_warning())

    # 7.4 Student groups the policy does not know (declared, or else named by rules).
    warnings += group_warnings(policy, incident)
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


def what_matched(
    policy: Policy, rule: AutomaticAlert, incident: Incident
) -> tuple[dict[str, str], str | None] | None:
    """``({kind: smallest matching value}, via_parent)`` if the rule fires, else None.

    A listed category matches an incident in it or in one of its sub-categories (7.1);
    ``via_parent`` is set when the matched category is such a sub-category.
    """
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
    via_parent = None
    for kind, values in listed.items():
        if kind == "category":
            hits = sorted(
                c
                for c in incident_values["category"]
                if c in values or policy.category_parents.get(c) in values
            )
        else:
            hits = sorted(v for v in values if v in incident_values[kind])
        if hits:
            matched[kind] = hits[0]
            if kind == "category" and hits[0] not in values:
                via_parent = policy.category_parents[hits[0]]
    kinds_listed = [kind for kind, values in listed.items() if values]
    if rule.match == "all":
        fires = all(kind in matched for kind in kinds_listed)
    else:
        fires = len(matched) > 0
    if not fires or not matched:
        return None
    return dict(sorted(matched.items())), via_parent


def missing_alert_permissions(
    policy: Policy, user_id: str, categories: list[str]
) -> list[MissingPermission]:
    """What the user's group lacks to receive an automatic alert ([] when it may)."""
    if policy.settings.automatic_alert_permission == "none":
        return []  # 7.3: the gate is off
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
    """Whether the user's group grants ``permission`` on ``category`` itself, on ``*``, or
    (when it does not list the category) on its parent category (7.1)."""
    group = policy.user_groups[policy.users[user_id].user_group]
    if category in group.category_permissions:
        on_category = group.category_permissions[category]
    else:
        parent = policy.category_parents.get(category, "")
        on_category = group.category_permissions.get(parent, frozenset())
    on_every_category = group.category_permissions.get("*", frozenset())
    return permission in on_category or permission in on_every_category


def restriction(policy: Policy, user_id: str) -> tuple[str, ...] | None:
    """The student groups a user is restricted to: their own list, else their group's."""
    user = policy.users[user_id]
    if user.restricted_to is not None:
        return user.restricted_to
    return policy.user_groups[user.user_group].restricted_to


def visible(restricted_to: tuple[str, ...], incident: Incident) -> tuple[str, ...]:
    """The ids of the incident's students in at least one of ``restricted_to``, sorted."""
    return tuple(
        sorted({s.id for s in incident.students if any(g in restricted_to for g in s.groups)})
    )


@cache
def plain_name(name: str) -> str:
    """A group name with case, spacing and look-alike characters set aside."""
    out = []
    for char in unicodedata.normalize("NFKC", name):
        if unicodedata.category(char) in ("Cf", "Cc") and not char.isspace():
            continue
        if not char.isascii() and not char.isspace():
            for found in confusables.is_confusable(char, greedy=True, preferred_aliases=[]) or ():
                ascii_ones = [h["c"] for h in found["homoglyphs"] if h["c"].isascii()]
                ascii_ones = [c for c in ascii_ones if c.isprintable()]
                if ascii_ones:
                    char = ascii_ones[0]
                    break
        out.append(char)
    return " ".join("".join(out).casefold().split())


def group_warnings(policy: Policy, incident: Incident) -> list[DecisionWarning]:
    """7.4: a warning for each incident student group the policy does not know."""
    if policy.student_groups is not None:
        known = set(policy.student_groups)
    else:
        known = {g for rule in policy.automatic_alerts for g in rule.when.student_groups}
        for holder in [*policy.users.values(), *policy.user_groups.values()]:
            known.update(holder.restricted_to or ())
    warnings = []
    for group in sorted({g for s in incident.students for g in s.groups}):
        if group in known:
            continue
        similar = sorted(k for k in known if plain_name(k) == plain_name(group))
        if similar or policy.student_groups is not None:
            declared = policy.student_groups is not None
            warnings.append(unknown_group_warning(group, similar[0] if similar else None, declared))
    return warnings


def access_of(policy: Policy, user_id: str, categories: list[str]) -> Access:
    """``full``, ``needs_key`` or ``none``: how far the user can open the incident."""
    user = policy.users[user_id]
    group = policy.user_groups[user.user_group]
    if policy.settings.automatic_alert_permission == "any_category":
        can_view = any(grants(policy, user_id, c, "view_incidents") for c in categories)
    else:  # every_category, and none (7.3: access is judged as with every_category)
        can_view = all(grants(policy, user_id, c, "view_incidents") for c in categories)
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
