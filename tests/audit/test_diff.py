"""Policy diffs: exact against the engine's oracle, and the same when computed in full.

Every gain, loss and access change the diff reports is checked against the reference
evaluator on the incident of its trigger, and so is every (trigger, category, user) it
does not report: nothing may change there.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.diff import PolicyDiff, diff_policies
from alertpolicy.engine.audit.ruleedits import describe_rule_edit
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import (
    CATEGORY_PERMISSIONS,
    SYSTEM_PERMISSIONS,
    Policy,
    StudentGroup,
    frozen_map,
)
from tests import strategies
from tests.helpers import TESTDATA, atom_incident, unenforced
from tests.reference import reference_decision, restriction

FIXTURE = TESTDATA / "policies" / "audit-map"
FALLBACK = "the policy's routing changed"


@st.composite
def edited(draw: st.DrawFn, policy: Policy) -> Policy:
    """``policy`` after one to three small edits of the kinds a school makes."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(EDITS))
        if kind == "user":
            uid = draw(st.sampled_from(sorted(policy.users)))
            user = replace(
                policy.users[uid],
                active=draw(st.booleans()),
                user_group=draw(st.sampled_from(sorted(policy.user_groups))),
                key_holder=draw(st.booleans()),
            )
            policy = replace(policy, users=frozen_map({**policy.users, uid: user}))
        elif kind == "group":
            name = draw(st.sampled_from(sorted(policy.user_groups)))
            key = draw(st.sampled_from((*policy.categories, "*")))
            perms = frozenset(draw(strategies.subset(CATEGORY_PERMISSIONS)))
            group = policy.user_groups[name]
            group = replace(
                group,
                category_permissions=frozen_map({**group.category_permissions, key: perms}),
                system_permissions=frozenset(draw(strategies.subset(SYSTEM_PERMISSIONS))),
            )
            policy = replace(policy, user_groups=frozen_map({**policy.user_groups, name: group}))
        elif kind == "rule" and policy.automatic_alerts:
            policy = rule_edited(draw, policy)
        elif kind == "alert_group" and policy.alert_groups:
            name = draw(st.sampled_from(sorted(policy.alert_groups)))
            group = replace(
                policy.alert_groups[name],
                users=draw(strategies.subset(tuple(policy.users))),
                user_groups=draw(strategies.subset(tuple(policy.user_groups))),
            )
            policy = replace(policy, alert_groups=frozen_map({**policy.alert_groups, name: group}))
        elif kind == "setting":
            flipped = not policy.settings.enforce_at_least_one_alert
            policy = replace(
                policy, settings=replace(policy.settings, enforce_at_least_one_alert=flipped)
            )
        elif kind == "restriction":
            policy = restricted_anew(draw, policy)
        elif kind == "category":
            policy = moved_category(draw, policy)
        elif kind == "gate":
            mode = draw(st.sampled_from(("every_category", "any_category", "none")))
            policy = replace(
                policy, settings=replace(policy.settings, automatic_alert_permission=mode)
            )
    return policy


EDITS = ("user", "group", "rule", "alert_group", "setting", "restriction", "category", "gate")


def rule_edited(draw: st.DrawFn, policy: Policy) -> Policy:
    """``policy`` with one rule removed, ``match`` flipped, or a category, student or student
    group added to or removed from its condition (what a school's pull request does)."""
    rules = list(policy.automatic_alerts)
    index = draw(st.integers(0, len(rules) - 1))
    rule = rules[index]
    how = draw(st.sampled_from(("remove", "match", "categories", "students", "student_groups")))
    if how == "remove":
        del rules[index]
    elif how == "match":
        rules[index] = replace(rule, match=draw(st.sampled_from(("any", "all"))))
    else:
        pool = {
            "categories": policy.categories,
            "students": strategies.STUDENTS,
            "student_groups": strategies.STUDENT_GROUPS,
        }[how]
        listed = set(getattr(rule.when, how))
        value = draw(st.sampled_from(sorted(pool)))
        listed ^= {value}
        when = replace(rule.when, **{how: tuple(sorted(listed))})
        if when.by_kind():
            rules[index] = replace(rule, when=when)
        if how == "student_groups" and policy.student_groups is not None:
            declared = {**policy.student_groups, value: StudentGroup(value)}
            policy = replace(policy, student_groups=frozen_map(declared))
    return replace(policy, automatic_alerts=tuple(rules))


def restricted_anew(draw: st.DrawFn, policy: Policy) -> Policy:
    """``policy`` with a user's or a user group's class restriction added, changed or gone."""
    groups = draw(st.one_of(st.none(), strategies.subset(strategies.STUDENT_GROUPS, min_size=1)))
    if draw(st.booleans()):
        uid = draw(st.sampled_from(sorted(policy.users)))
        user = replace(policy.users[uid], restricted_to=groups)
        policy = replace(policy, users=frozen_map({**policy.users, uid: user}))
    else:
        name = draw(st.sampled_from(sorted(policy.user_groups)))
        group = replace(policy.user_groups[name], restricted_to=groups)
        policy = replace(policy, user_groups=frozen_map({**policy.user_groups, name: group}))
    if policy.student_groups is not None and groups:
        declared = {**policy.student_groups, **{g: StudentGroup(g) for g in groups}}
        policy = replace(policy, student_groups=frozen_map(declared))
    return policy


def moved_category(draw: st.DrawFn, policy: Policy) -> Policy:
    """``policy`` with a sub-category added, or moved to or from under another parent."""
    parents = dict(policy.category_parents)
    tops = [c for c in policy.categories if c not in parents]
    name = draw(st.sampled_from(sorted(strategies.SUB_CATEGORIES)))
    parent = draw(st.one_of(st.none(), st.sampled_from(tops)))
    if parent == name:
        return policy
    if name in parents.values():  # it is a parent itself: leave it one level deep
        return policy
    parents.pop(name, None)
    if parent is not None:
        parents[name] = parent
    categories = tuple(sorted({*policy.categories, name}))
    return replace(policy, categories=categories, category_parents=frozen_map(parents))


@st.composite
def policy_pairs(draw: st.DrawFn) -> tuple[Policy, Policy]:
    """A base and a head: an edited copy of the base, or (sometimes) another policy."""
    base = draw(strategies.policies())
    head = draw(st.one_of(edited(base), strategies.policies()))
    return base, head


def engine_access(
    policy: Policy, atoms: AtomicMap, trigger: Trigger, category: str, user: str
) -> str | None:
    """The access the reference engine gives ``user`` when ``trigger`` alerts them in an
    incident in ``category`` about a student they can see, or ``None`` if it does not."""
    if user not in policy.users:
        return None
    rules = {r.id for r in atoms.rules_for(trigger)}
    if trigger.kind == "alert_group" and trigger.value not in policy.alert_groups:
        return None
    if trigger.kind == "combination" and not rules:
        return None
    incident = atom_incident(atoms, trigger, category)
    restricted_to = restriction(policy, user)
    if restricted_to:  # alerted for some student: one in the groups they can see
        first = incident.students[0]
        incident = replace(
            incident, students=(replace(first, groups=(*first.groups, *restricted_to)),)
        )
    decision = reference_decision(unenforced(policy), incident)
    for recipient in decision.recipients:
        if recipient.user == user and any(
            reason.rule in rules or reason.alert_group == trigger.value
            for reason in recipient.reasons
        ):
            return recipient.access
    return None


def check_against_engine(base: Policy, head: Policy, diff: PolicyDiff) -> None:
    """Every gain and loss flips the engine's answer, every access change is the engine's,
    and every other (trigger, category, user) stays the same."""
    flips, accesses = {}, {}
    for change in diff.changes:
        cats = change.categories or (
            (change.trigger.value,) if change.trigger.kind == "category" else base.categories
        )
        for category in cats:
            key = (change.trigger, category, change.user)
            if change.change in ("gains", "loses"):
                flips[key] = change.change
            elif change.change == "access_changed":
                accesses[key] = change.access
    common = sorted(set(base.categories) & set(head.categories))
    old, new = AtomicMap(AlertMap(base)), AtomicMap(AlertMap(head))
    users = sorted(set(base.users) | set(head.users))
    for trigger in set(old.triggers()) | set(new.triggers()):
        if trigger.kind == "category" and trigger.value not in common:
            continue
        categories = (trigger.value,) if trigger.kind == "category" else common
        for category in categories:
            for user in users:
                before = engine_access(base, old, trigger, category, user)
                after = engine_access(head, new, trigger, category, user)
                key = (trigger, category, user)
                expected = {(False, True): "gains", (True, False): "loses"}.get(
                    (before is not None, after is not None)
                )
                assert flips.get(key) == expected, (key, before, after)
                moved = (before, after) if before and after and before != after else None
                assert accesses.get(key) == moved, (key, before, after)


@settings(strategies.ENGINE_SETTINGS, max_examples=150)
@given(policy_pairs())
def test_diff_gains_and_losses_are_the_engines(pair: tuple[Policy, Policy]) -> None:
    base, head = pair
    check_against_engine(base, head, diff_policies(base, head))


@settings(strategies.ENGINE_SETTINGS, max_examples=300)
@given(policy_pairs())
def test_only_affected_triggers_gives_the_full_answer(pair: tuple[Policy, Policy]) -> None:
    base, head = pair
    assert diff_policies(base, head) == diff_policies(base, head, full=True)


@settings(strategies.ENGINE_SETTINGS, max_examples=300)
@given(strategies.policies().flatmap(lambda p: st.tuples(st.just(p), edited(p))))
def test_every_change_of_an_edit_has_a_cause(pair: tuple[Policy, Policy]) -> None:
    base, head = pair
    for change in diff_policies(base, head).changes:
        assert change.causes and FALLBACK not in change.causes, change


def test_no_change_is_no_change() -> None:
    policy = load_policy(FIXTURE)
    diff = diff_policies(policy, policy)
    assert not diff.changed
    assert diff.summary() == "No change in who is alerted."
    assert diff.to_json()["changes"] == []


def test_rule_edit_is_described_field_by_field() -> None:
    policy = load_policy(FIXTURE)
    rule = policy.automatic_alerts[3]
    new = replace(
        rule,
        match="any",
        when=replace(rule.when, categories=("Bullying", "Online safety")),
        notify=replace(rule.notify, users=("mokafor",)),
    )
    assert describe_rule_edit(rule, new) == (
        "category Online safety added; now notifies user mokafor; no longer notifies user "
        "tteach; match switched from all to any"
    )


def test_summary_counts_users_and_settings() -> None:
    base = load_policy(FIXTURE)
    users = dict(base.users)
    users["kbaker"] = replace(users["kbaker"], active=False)
    users["tteach"] = replace(users["tteach"], user_group="DSL")
    head = replace(
        base,
        users=frozen_map(users),
        settings=replace(base.settings, enforce_at_least_one_alert=False),
    )
    diff = diff_policies(base, head)
    assert diff.summary() == (
        "1 user gains alerts, 1 loses; 1 user's access changes; enforcement switched off"
    )
    kinds = {(c.kind, c.subject) for c in diff.policy_changes}
    assert ("user_deactivated", "kbaker") in kinds and ("user_moved", "tteach") in kinds
    # tteach stays in the Year 7 Team and can now open what it alerts him about.
    [access] = [
        c
        for c in diff.changes
        if c.change == "access_changed" and c.trigger == Trigger("alert_group", "Year 7 Team")
    ]
    assert (access.user, access.access, access.every_category) == (
        "tteach",
        ("none", "needs_key"),
        True,
    )
    assert access.causes == ("tteach moved from user group Teaching Staff to DSL",)
    assert [r.label() for r in access.via] == ["alert group Year 7 Team"]
    assert diff.affects("tteach moved from user group Teaching Staff to DSL") == {
        "gains": ("tteach",),
        "access_changed": ("tteach",),
    }
    assert diff.affects("kbaker deactivated") == {"loses": ("kbaker",)}
