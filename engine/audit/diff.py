"""Whose alerts change between two policy revisions, and why.

:func:`diff_policies` compares two loaded policies.  First their objects
(:mod:`.changes`): settings, rules added / removed / edited part by part, users, user
groups' permissions, alert-group membership, categories, class restrictions.  Then the
standings of the triggers those changes can touch (:mod:`.atoms`: each ``match: all`` rule
split into single triggers, so that an edited condition shows as what it gained or lost):
every user who gains or loses an alert, becomes (or stops being) withheld, is alerted about
other students (a class restriction), or can open such incidents more or less far
(access), each with the routes it comes through and its causes, picked from the object
changes that concern that user and that trigger.  Setting changes are listed on their own
(enforcement alters rejections, not who is alerted).  The model is :mod:`.diffmodel`.

Only the (trigger, user) pairs an object change can affect are compared (see
:func:`~.causes.affected_triggers`); ``full=True`` compares every trigger and gives the
same answer.  For student, student-group and combination triggers, categories are
compared on the categories both revisions have; a category added or removed shows under
its own category trigger.  Access is judged for an incident in one category whose student
the user can see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from alertpolicy.engine.audit.alertmap import (
    INCIDENT,
    AlertMap,
    Standing,
    Trigger,
    lacks_text,
    missing_permissions,
)
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.causes import access_causes_of, affected_triggers, causes_of
from alertpolicy.engine.audit.changes import Cause, ObjectChanges, compare_objects
from alertpolicy.engine.audit.diffmodel import (
    CHANGE_ORDER,
    Affected,
    AlertChange,
    ChangeKind,
    PolicyDiff,
    Route,
)
from alertpolicy.engine.model import Access, Policy, frozen_map

__all__ = ["AlertChange", "PolicyDiff", "Route", "diff_policies"]

FALLBACK = "the policy's routing changed"
"""The cause given when no object change explains an alert change (never expected)."""


@dataclass
class Sides:
    """Both revisions' maps, their object changes, and what is remembered while diffing."""

    base: AtomicMap
    head: AtomicMap
    objects: ObjectChanges
    common: frozenset[str]
    """The categories both revisions have, and ``INCIDENT``."""

    @classmethod
    def of(cls, base: Policy, head: Policy, objects: ObjectChanges) -> Sides:
        """The sides of a diff from ``base`` to ``head``, whose object changes are
        ``objects`` (their maps say who is alerted, not how far they can open it)."""
        common = frozenset(base.categories) & frozenset(head.categories) | {INCIDENT}
        return cls(
            AtomicMap(AlertMap(base, with_access=False)),
            AtomicMap(AlertMap(head, with_access=False)),
            objects,
            common,
        )

    def __post_init__(self) -> None:
        self._access: dict[tuple[int, str, bool, str], Access] = {}

    def access(self, side: AtomicMap, user: str, category: str) -> Access:
        """How far ``user`` can open an incident in ``category`` at ``side``'s revision."""
        person = side.policy.users[user]
        key = (id(side), person.user_group, person.key_holder, category)
        found = self._access.get(key)
        if found is None:
            found = self._access[key] = side.amap.access(user, (category,))
        return found


def _restrict(
    standing: Standing | None, common: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(alerted_in, withheld_in) on the categories both revisions share."""
    if standing is None:
        return frozenset(), frozenset()
    return standing.alerted_in & common, standing.withheld_in & common


def _routes(
    side: AtomicMap, standing: Standing | None, trigger: Trigger, cats: Iterable[str]
) -> tuple[Route, ...]:
    """The routes of ``standing`` that apply in ``cats`` (or to the whole incident)."""
    if standing is None:
        return ()
    wanted = frozenset(cats)
    found: set[Route] = set()
    for rule, _, _ in standing.sources:
        if rule is None:
            found.add(Route("alert_group", trigger.value))
        elif INCIDENT in wanted or not wanted.isdisjoint(side.amap.scope(rule)):
            found.add(Route("rule", rule))
    return tuple(sorted(found))


def _withheld_detail(
    amap: AlertMap, standing: Standing, categories: Iterable[str]
) -> tuple[str, str]:
    """(reason, detail) for a user withheld in ``categories`` under ``amap``'s policy."""
    if standing.inactive:
        return "inactive", f"{standing.user} is inactive"
    policy = amap.policy
    cats = [c for c in categories if c != INCIDENT]
    group = policy.users[standing.user].user_group
    lacks = lacks_text(missing_permissions(amap.permissions, group, cats), policy.categories)
    return "missing_permission", f"their user group lacks {lacks}"


def _texts(causes: Iterable[Cause]) -> tuple[str, ...]:
    return tuple(cause.detail for cause in causes) or (FALLBACK,)


def _alert_changes(
    trigger: Trigger,
    user: str,
    old: Standing | None,
    new: Standing | None,
    sides: Sides,
    restricted: tuple[frozenset[str], ...],
) -> list[AlertChange]:
    """A user's gains, losses and withheld entries on one trigger; ``restricted`` is
    (alerted_in, withheld_in) before and after, on the categories both sides share."""
    a0, w0, a1, w1 = restricted
    pieces: list[tuple[ChangeKind, frozenset[str]]] = [
        ("gains", a1 - a0),
        ("loses", a0 - a1),
        ("newly_withheld", (w1 - w0) - (a0 - a1)),
        ("no_longer_withheld", (w0 - w1) - (a1 - a0)),
    ]
    out = []
    for change, cats in pieces:
        if not cats:
            continue
        shown = () if trigger.kind == "category" else tuple(sorted(cats - {INCIDENT}))
        reason, detail = None, ""
        if change in ("loses", "newly_withheld") and new is not None and cats & w1:
            reason, detail = _withheld_detail(sides.head.amap, new, shown or (trigger.value,))
        elif change == "loses":
            detail = "no longer notified"
        side, standing = (
            (sides.head, new)
            if change in ("gains", "newly_withheld")
            else (
                sides.base,
                old,
            )
        )
        why = causes_of(
            trigger, user, old, new, shown, sides.base.policy, sides.head.policy, sides.objects
        )
        every = bool(shown) and set(shown) == sides.common - {INCIDENT}
        via = _routes(side, standing, trigger, cats)
        out.append(
            AlertChange(trigger, user, change, shown, reason, detail, _texts(why), every, via)
        )
    return out


def _restriction_change(
    trigger: Trigger, user: str, old: Standing, new: Standing, sides: Sides
) -> AlertChange:
    """A user still alerted on ``trigger``, but for the students of other groups."""

    def only(groups: tuple[str, ...] | None) -> str:
        return f"students in {', '.join(groups)}" if groups else "any student"

    detail = f"now alerted for {only(new.restricted_to)} (before: {only(old.restricted_to)})"
    why = causes_of(
        trigger, user, old, new, (), sides.base.policy, sides.head.policy, sides.objects
    )
    via = _routes(sides.head, new, trigger, new.alerted_in)
    return AlertChange(
        trigger, user, "restriction_changed", (), "class_restriction", detail, _texts(why), via=via
    )


def _access_changes(
    trigger: Trigger, user: str, new: Standing, stays: frozenset[str], sides: Sides
) -> list[AlertChange]:
    """How far a user alerted on both sides can open such incidents, where it changes."""
    if trigger.kind == "category":
        cats: Iterable[str] = (trigger.value,)
    elif INCIDENT in stays:  # a chosen alert group: incidents in any category
        cats = sorted(sides.common - {INCIDENT})
    else:
        cats = sorted(stays)
    moved: dict[tuple[Access, Access], list[str]] = defaultdict(list)
    for category in cats:
        before = sides.access(sides.base, user, category)
        after = sides.access(sides.head, user, category)
        if before != after:
            moved[(before, after)].append(category)
    out = []
    for (before, after), found in sorted(moved.items()):
        shown = () if trigger.kind == "category" else tuple(found)
        every = bool(shown) and set(shown) == sides.common - {INCIDENT}
        why = access_causes_of(
            trigger, user, found, sides.base.policy, sides.head.policy, sides.objects
        )
        via = _routes(sides.head, new, trigger, found if shown else stays)
        detail = f"access {before} -> {after}"
        out.append(
            AlertChange(
                trigger,
                user,
                "access_changed",
                shown,
                None,
                detail,
                _texts(why),
                every,
                via,
                (before, after),
            )
        )
    return out


def _trigger_changes(
    trigger: Trigger, sides: Sides, users: frozenset[str] | None = None
) -> list[AlertChange]:
    """Every user's change for one trigger (of ``users`` only, when given)."""
    old_all = sides.base.standings(trigger, users)
    new_all = sides.head.standings(trigger, users)
    out: list[AlertChange] = []
    for user in sorted(old_all.keys() | new_all.keys()):
        old, new = old_all.get(user), new_all.get(user)
        a0, w0 = _restrict(old, sides.common)
        a1, w1 = _restrict(new, sides.common)
        if (a0, w0) != (a1, w1):
            out.extend(_alert_changes(trigger, user, old, new, sides, (a0, w0, a1, w1)))
        elif a1 and old is not None and new is not None and old.restricted_to != new.restricted_to:
            out.append(_restriction_change(trigger, user, old, new, sides))
        if new is not None and a0 & a1:
            out.extend(_access_changes(trigger, user, new, a0 & a1, sides))
    return out


def diff_policies(
    base: Policy, head: Policy, *, full: bool = False, labels: tuple[str, str] = ("base", "head")
) -> PolicyDiff:
    """Compare two policies: setting changes, object changes and every alert change."""
    objects = compare_objects(base, head)
    sides = Sides.of(base, head, objects)
    if full:
        triggers = dict.fromkeys(set(sides.base.triggers()) | set(sides.head.triggers()))
    else:
        triggers = affected_triggers(sides.base, sides.head, objects)
    changes: list[AlertChange] = []
    for trigger in sorted(triggers, key=Trigger.sort_key):
        changes.extend(_trigger_changes(trigger, sides, triggers[trigger]))
    changes.sort(key=AlertChange.sort_key)
    return PolicyDiff(
        base=(labels[0], base.revision),
        head=(labels[1], head.revision),
        settings=tuple(objects.settings),
        policy_changes=tuple(objects.listing),
        changes=tuple(changes),
        affected=_affected(changes),
        names=frozen_map(
            {c.user: (head.users.get(c.user) or base.users[c.user]).name for c in changes}
        ),
    )


def _affected(changes: Iterable[AlertChange]) -> Affected:
    """Per cause (its words), the users it affects, by kind of change, sorted."""
    found: dict[str, dict[ChangeKind, set[str]]] = defaultdict(lambda: defaultdict(set))
    for change in changes:
        for cause in change.causes:
            found[cause][change.change].add(change.user)
    return frozen_map(
        {
            cause: frozen_map(
                {kind: tuple(sorted(kinds[kind])) for kind in CHANGE_ORDER if kinds.get(kind)}
            )
            for cause, kinds in found.items()
        }
    )
