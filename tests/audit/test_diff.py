"""Policy diffs: exact against the engine's oracle, and the same when computed in full."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.changes import describe_rule_edit
from alertpolicy.engine.audit.diff import PolicyDiff, diff_policies
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import CATEGORY_PERMISSIONS, Policy, StudentGroup, frozen_map
from tests import strategies
from tests.helpers import TESTDATA, trigger_incident, unenforced
from tests.reference import reference_decision, restriction

FIXTURE = TESTDATA / "policies" / "audit-map"
FALLBACK = "the policy's routing changed"


@st.composite
def edited(draw: st.DrawFn, policy: Policy) -> Policy:
    """``policy`` after one to three small edits of the kinds a school makes."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                (
                    "user",
                    "group",
                    "rule",
                    "alert_group",
                    "setting",
                    "restriction",
                    "category",
                    "gate",
                )
            )
        )
        if kind == "user":
            uid = draw(st.sampled_from(sorted(policy.users)))
            user = replace(
                policy.users[uid],
                active=draw(st.booleans()),
                user_group=draw(st.sampled_from(sorted(policy.user_groups))),
            )
            policy = replace(policy, users=frozen_map({**policy.users, uid: user}))
        elif kind == "group":
            name = draw(st.sampled_from(sorted(policy.user_groups)))
            key = draw(st.sampled_from((*policy.categories, "*")))
            perms = frozenset(draw(strategies.subset(CATEGORY_PERMISSIONS)))
            group = policy.user_groups[name]
            group = replace(
                group, category_permissions=frozen_map({**group.category_permissions, key: perms})
            )
            policy = replace(policy, user_groups=frozen_map({**policy.user_groups, name: group}))
        elif kind == "rule" and policy.automatic_alerts:
            rules = list(policy.automatic_alerts)
            index = draw(st.integers(0, len(rules) - 1))
            if draw(st.booleans()):
                del rules[index]
            else:
                rules[index] = replace(rules[index], match=draw(st.sampled_from(("any", "all"))))
            policy = replace(policy, automatic_alerts=tuple(rules))
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


def engine_alerted(policy: Policy, trigger: Trigger, category: str, user: str) -> bool:
    """Whether the reference engine alerts ``user`` through ``trigger`` in ``category``."""
    amap = AlertMap(policy)
    rules = {r.id for r in amap.rules_for(trigger)}
    if trigger.kind == "alert_group" and trigger.value not in policy.alert_groups:
        return False
    if trigger.kind == "combination" and not rules:
        return False
    incident = trigger_incident(amap, trigger, category)
    restricted_to = restriction(policy, user) if user in policy.users else None
    if restricted_to:  # alerted for some student: one in the groups they can see
        first = incident.students[0]
        incident = replace(
            incident, students=(replace(first, groups=(*first.groups, *restricted_to)),)
        )
    decision = reference_decision(unenforced(policy), incident)
    return any(
        reason.rule in rules or reason.alert_group == trigger.value
        for recipient in decision.recipients
        if recipient.user == user
        for reason in recipient.reasons
    )


def check_against_engine(base: Policy, head: Policy, diff: PolicyDiff) -> None:
    """Every gain and loss flips the engine's answer; every other pair stays the same."""
    flips = {}
    for change in diff.changes:
        if change.change not in ("gains", "loses"):
            continue
        cats = change.categories or (
            (change.trigger.value,) if change.trigger.kind == "category" else base.categories
        )
        for category in cats:
            flips[(change.trigger, category, change.user)] = change.change
    common = sorted(set(base.categories) & set(head.categories))
    triggers = set(AlertMap(base).triggers()) | set(AlertMap(head).triggers())
    users = sorted(set(base.users) | set(head.users))
    for trigger in triggers:
        if trigger.kind == "category" and trigger.value not in common:
            continue
        categories = (trigger.value,) if trigger.kind == "category" else common
        for category in categories:
            for user in users:
                before = user in base.users and engine_alerted(base, trigger, category, user)
                after = user in head.users and engine_alerted(head, trigger, category, user)
                expected = {(False, True): "gains", (True, False): "loses"}.get((before, after))
                assert flips.get((trigger, category, user)) == expected, (trigger, category, user)


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
        "when categories +Online safety; notify users +mokafor -tteach; match all -> any"
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
    assert diff.summary() == ("1 user gains alerts, 1 loses; enforcement switched off")
    kinds = {(c.kind, c.subject) for c in diff.policy_changes}
    assert ("user_deactivated", "kbaker") in kinds and ("user_moved", "tteach") in kinds
