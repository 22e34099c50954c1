"""Safeguarding lint: a policy that loads can still leave a child's concern unread.

Every finding is a warning with a stable code:

- ``rule-never-sends``: an automatic alert names someone whose user group lacks
  ``view_students``/``view_incidents`` on a category of the rule (the CPOMS trap);
- ``alert-group-empty`` / ``alert-group-all-inactive``: choosing the group alerts nobody;
- ``category-unalerted``: no automatic alert reaches anyone about a category;
- ``enforcement-off``: incidents can be submitted without alerting anyone;
- ``no-admin-key-holder``: no active Admin Key Holder (placed where one would be made);
- ``inactive-user-named``: a rule or alert group names an inactive user;
- ``permission-gate-off``: ``automatic_alert_permission: none``: automatic alerts reach
  people who may not be allowed to open the incident;
- ``rule-id-names-student``: a rule's id contains a student id it lists (rule ids go into
  decision logs and diffs, which must not carry student ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import TypeVar

from alertpolicy.engine.errors import Location, PathItem, Problem, sorted_problems
from alertpolicy.engine.model import ALERT_PERMISSIONS, Policy, Targets, User, UserGroup
from alertpolicy.engine.rules import Membership, Permissions, conditions

_Defined = TypeVar("_Defined", User, UserGroup)
_NO_PLACE = Location("", 0, 0)


def lint_policy(policy: Policy) -> tuple[Problem, ...]:
    """Every safeguarding warning about ``policy``, sorted by place."""
    routing = (Permissions(policy), Membership(policy))
    return sorted_problems(
        [
            *_rules_never_send(policy, *routing),
            *_alert_group_warnings(policy),
            *_unalerted_categories(policy, *routing),
            *_setting_warnings(policy),
            *_admin_key_holder_warnings(policy),
            *_inactive_users_named(policy),
            *_rule_ids_naming_students(policy),
        ]
    )


def _warning(
    code: str, message: str, location: Location | None, path: tuple[PathItem, ...]
) -> Problem:
    return Problem(code, message, location, path=path, severity="warning")


def _active_members(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Active user ids of each user group."""
    members: dict[str, list[str]] = {name: [] for name in policy.user_groups}
    for user in policy.users.values():
        if user.active:
            members.setdefault(user.user_group, []).append(user.id)
    return {name: tuple(ids) for name, ids in members.items()}


def _rules_never_send(
    policy: Policy, permissions: Permissions, membership: Membership
) -> Iterator[Problem]:
    active = _active_members(policy)

    @cache
    def lacking(group: str, categories: tuple[str, ...]) -> str:
        if not categories:
            if permissions.alert_categories(group):
                return ""
            return "view_students and view_incidents on any category"
        parts = [
            f"{' and '.join(p for p in ALERT_PERMISSIONS if p in missing)} on {category}"
            for category in categories
            if (missing := permissions.lacking(group, category))
        ]
        return "; ".join(parts)

    @cache
    def unreached(targets: Targets, categories: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """(who, their user group, what it lacks) for each active user or user group that
        ``targets`` names and the gate stops for ``categories`` (rules share them)."""
        found = []
        seen: set[tuple[str, str]] = set()
        for kind, name, via in membership.named(targets):
            if (kind, name) in seen:
                continue
            seen.add((kind, name))
            how = (
                "named directly"
                if via.kind != "alert_group"
                else f"member of alert group {via.name}"
            )
            if kind == "user":
                user = policy.users[name]
                if not user.active:
                    continue
                group, who = user.user_group, f"{name} ({user.name}, {how})"
            else:
                if not active.get(name):
                    continue
                group, who = name, f"the users of user group {name} ({how})"
            missing = lacking(group, categories)
            if missing:
                found.append((who, group, missing))
        return found

    if permissions.mode == "none":
        return
    for index, rule in enumerate(policy.automatic_alerts):
        # The categories the rule lists: a sub-category it fires for through its parent is
        # judged with the parent, unless a user group deliberately lists it otherwise.
        for who, group, missing in unreached(rule.notify, rule.when.categories):
            never = "can never alert" if not rule.when.categories else "cannot alert"
            yield _warning(
                "rule-never-sends",
                f"automatic alert {rule.id} {never} {who}: user group {group} lacks "
                f"{missing}; automatic alerts need both permissions on the incident's "
                "categories",
                rule.location,
                ("automatic_alerts", index),
            )


def _alert_group_warnings(policy: Policy) -> Iterator[Problem]:
    in_group: dict[str, list[str]] = {}
    for user in policy.users.values():
        in_group.setdefault(user.user_group, []).append(user.id)
    for name, alert_group in policy.alert_groups.items():
        members = set(alert_group.users)
        for group in alert_group.user_groups:
            members.update(in_group.get(group, ()))
        path = ("alert_groups", name)
        if not members:
            yield _warning(
                "alert-group-empty",
                f"alert group {name} has no members: choosing it alerts nobody",
                alert_group.location,
                path,
            )
        elif not any(policy.users[uid].active for uid in members):
            yield _warning(
                "alert-group-all-inactive",
                f"every member of alert group {name} is inactive: choosing it alerts nobody",
                alert_group.location,
                path,
            )


def _unalerted_categories(
    policy: Policy, permissions: Permissions, membership: Membership
) -> Iterator[Problem]:
    active = _active_members(policy)
    reached: set[str] = set()
    everything = set(policy.categories)
    for rule, condition in zip(policy.automatic_alerts, conditions(policy), strict=True):
        if len(reached) == len(everything):
            break  # every category is reached: no rule can add one
        waiting = [c for c in condition.accepts.get("category", ()) if c not in reached]
        if not waiting:
            continue
        groups: set[str] = set()
        for kind, name, _via in membership.named(rule.notify):
            if kind == "user" and policy.users[name].active:
                groups.add(policy.users[name].user_group)
            elif kind == "user_group" and active.get(name):
                groups.add(name)
        for category in waiting:
            if any(permissions.gate(g, (category,)) is None for g in groups):
                reached.add(category)
    for category in policy.categories:
        if category not in reached:
            yield _warning(
                "category-unalerted",
                f"no automatic alert reaches anyone about category {category}: a concern "
                "in it alerts only the people the reporter chooses",
                policy.category_locations.get(category),
                ("categories", category),
            )


def _setting_warnings(policy: Policy) -> Iterator[Problem]:
    if policy.settings.automatic_alert_permission == "none":
        yield _warning(
            "permission-gate-off",
            "automatic_alert_permission is none: the permission gate is off, so automatic "
            "alerts reach every active user they name, including staff whose user group may "
            "not view the incident's category (each such decision warns "
            "recipient_cannot_open); use every_category to alert only staff who may open it",
            policy.settings.location or _policy_start(policy),
            ("settings", "automatic_alert_permission"),
        )
    if not policy.settings.enforce_at_least_one_alert:
        yield _warning(
            "enforcement-off",
            "enforce_at_least_one_alert is off: an incident can be submitted without "
            "alerting anyone",
            policy.settings.location or _policy_start(policy),
            ("settings", "enforce_at_least_one_alert"),
        )


def _admin_key_holder_warnings(policy: Policy) -> Iterator[Problem]:
    admin_groups = {name for name, g in policy.user_groups.items() if g.has_system("admin")}
    admins = [u for u in policy.users.values() if u.active and u.user_group in admin_groups]
    if any(user.key_holder for user in admins):
        return
    location, path, fix = _where_to_add_admin_key_holder(policy, admin_groups, admins)
    yield _warning(
        "no-admin-key-holder",
        "no active user is an Admin Key Holder (key_holder: true in a user group with "
        f"the admin system permission): nobody can manage alerts; {fix}",
        location,
        path,
    )


def _where_to_add_admin_key_holder(
    policy: Policy, admin_groups: set[str], admins: list[User]
) -> tuple[Location | None, tuple[PathItem, ...], str]:
    """The place an admin would edit to make someone an Admin Key Holder, and what to do."""
    if user := _first_written(admins):
        return (
            user.location,
            ("users", user.id, "key_holder"),
            f"give an active user of {user.user_group} key_holder: true, "
            f"for example {user.id} ({user.name}) here",
        )
    if group := _first_written(policy.user_groups[name] for name in sorted(admin_groups)):
        return (
            group.location,
            ("user_groups", group.name),
            f"user group {group.name} has the admin permission but no active user: "
            "add an active user with key_holder: true to it",
        )
    if group := _first_written(policy.user_groups.values()):
        return (
            group.location,
            ("user_groups", group.name, "system_permissions"),
            "no user group has the admin system permission: add admin to the "
            f"system_permissions of a group such as {group.name} (here) and make one of "
            "its active users a key_holder",
        )
    return (
        policy.settings.location or _policy_start(policy),
        ("user_groups",),
        "define a user group with the admin system permission and an active key holder in it",
    )


def _policy_start(policy: Policy) -> Location | None:
    """The start of the policy's first file: for a finding about something not written."""
    placed = [
        *policy.category_locations.values(),
        *(d.location for d in policy.user_groups.values()),
        *(d.location for d in policy.users.values()),
        *(d.location for d in policy.alert_groups.values()),
        *(d.location for d in policy.automatic_alerts),
    ]
    first = min((loc for loc in placed if loc is not None), default=None)
    return Location(first.file, 1, 1) if first else None


def _first_written(items: Iterable[_Defined]) -> _Defined | None:
    """The item defined first (by file, line, column; unplaced ones last), if any."""
    return min(items, key=lambda i: (i.location is None, i.location or _NO_PLACE), default=None)


def _inactive_users_named(policy: Policy) -> Iterator[Problem]:
    naming = [
        (
            f"automatic alert {rule.id}",
            "from it",
            rule.notify.users,
            rule.location,
            ("automatic_alerts", index, "notify", "users"),
        )
        for index, rule in enumerate(policy.automatic_alerts)
    ] + [
        (
            f"alert group {name}",
            "through it",
            alert_group.users,
            alert_group.location,
            ("alert_groups", name, "members", "users"),
        )
        for name, alert_group in policy.alert_groups.items()
    ]
    for what, how, users, location, path in naming:
        for uid in users:
            if not policy.users[uid].active:
                yield _warning(
                    "inactive-user-named",
                    f"{what} names inactive user {uid} "
                    f"({policy.users[uid].name}): they receive nothing {how}",
                    location,
                    path,
                )


def _rule_ids_naming_students(policy: Policy) -> Iterator[Problem]:
    for index, rule in enumerate(policy.automatic_alerts):
        named = sorted(s for s in set(rule.when.students) if s.casefold() in rule.id.casefold())
        if named:
            yield _warning(
                "rule-id-names-student",
                f"automatic alert {rule.id} has student id {', '.join(named)} in its id: rule "
                "ids appear in decision logs, diffs and pull requests, which must not carry "
                "student ids; rename it after what it is for (e.g. ehcp-student-to-senco)",
                rule.location,
                ("automatic_alerts", index, "id"),
            )
