"""Whether an automatic alert fires, and what matched (SPEC 4.2, with sub-categories 7.1).

A rule listing a parent category also fires for incidents in its sub-categories; its
``matched`` then names the incident's category and its reason carries ``via_parent``.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from alertpolicy.engine.model import MatchMode, Policy, Reason, TriggerKind, frozen_map

Matched = tuple[tuple[str, str], ...]
"""A fired rule's ``matched``: (kind, smallest matching incident value) pairs, by kind."""


def subcategories(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Each parent category's sub-categories, sorted (empty without sub-categories)."""
    children: dict[str, list[str]] = defaultdict(list)
    for child, parent in policy.category_parents.items():
        children[parent].append(child)
    return {parent: tuple(sorted(subs)) for parent, subs in children.items()}


def accepted_categories(
    listed: Iterable[str], children: Mapping[str, Sequence[str]]
) -> dict[str, str | None]:
    """The incident categories a rule listing ``listed`` fires for, in order: each listed
    category, then its sub-categories; each mapped to the parent it is accepted through
    (``None`` when listed itself)."""
    listed = tuple(dict.fromkeys(listed))
    accepted: dict[str, str | None] = dict.fromkeys(listed)
    for parent in listed:
        for child in children.get(parent, ()):
            accepted.setdefault(child, parent)
    return accepted


# ------------------------------------------------------------------ firing (4.2, 7.1)


@dataclass(frozen=True, slots=True)
class Condition:
    """When one automatic alert fires: the incident values each kind it lists accepts."""

    rule: str
    match: MatchMode
    accepts: Mapping[TriggerKind, frozenset[str]]
    """Per listed kind (in kind order), every incident value that satisfies it."""
    via_parent: Mapping[str, str]
    """Accepted categories the rule does not list itself, each with its listed parent."""

    @property
    def joint(self) -> bool:
        """Whether every one of several kinds must match (``match: all`` on two or more)."""
        return self.match == "all" and len(self.accepts) > 1

    def hits(self, values: Mapping[str, Iterable[str]]) -> Matched:
        """(kind, smallest incident value it accepts) for each kind ``values`` match."""
        found: list[tuple[str, str]] = []
        for kind, accepted in self.accepts.items():
            hits = accepted.intersection(values.get(kind, ()))
            if hits:
                found.append((kind, min(hits)))
        return tuple(found)

    def matched(self, values: Mapping[str, Iterable[str]]) -> Matched | None:
        """``matched`` when the rule fires for an incident with these values, else ``None``.

        ``match: any`` fires when any listed kind matches, ``match: all`` when every one
        does; ``matched`` gives, for each kind that matches, the smallest incident value.
        """
        found: list[tuple[str, str]] = []
        for kind, accepted in self.accepts.items():
            hits = accepted.intersection(values.get(kind, ()))
            if hits:
                found.append((kind, min(hits)))
            elif self.match == "all":
                return None
        return tuple(found) or None

    def fires_whatever_category(self, values: Mapping[str, Iterable[str]]) -> bool:
        """Whether the students and groups in ``values`` fire the rule, whichever category
        the incident is in (a ``match: all`` rule listing categories then fires only in
        those: see :meth:`scope`)."""
        hits = [
            bool(accepted.intersection(values.get(kind, ())))
            for kind, accepted in self.accepts.items()
            if kind != "category"
        ]
        if not hits:
            return False
        return all(hits) if self.match == "all" else any(hits)

    def scope(self, categories: frozenset[str]) -> frozenset[str]:
        """Of ``categories``, those of a single-category incident the rule can fire in."""
        accepted = self.accepts.get("category")
        if accepted is not None and (self.match == "all" or len(self.accepts) == 1):
            return accepted & categories
        return categories

    def reason(self, matched: Matched) -> Reason:
        """The reason a recipient of this rule is given when it fires with ``matched``."""
        parent = None
        for kind, value in matched:
            if kind == "category":
                parent = self.via_parent.get(value)
        return Reason("automatic_alert", rule=self.rule, matched=matched, via_parent=parent)


_known: dict[int, tuple[Condition, ...]] = {}
"""Conditions already worked out, by the ``id`` of a policy still alive."""

NO_PARENTS: Mapping[str, str] = frozen_map()
"""The ``via_parent`` of every condition that accepts no sub-category by its parent."""


@lru_cache(maxsize=65_536)
def _values(values: tuple[str, ...]) -> frozenset[str]:
    """``values`` as a set, the same set object for the same values: a provider serving
    many schools holds each school's conditions, and most repeat one another's."""
    return frozenset(values)


def conditions(policy: Policy) -> tuple[Condition, ...]:
    """The :class:`Condition` of every automatic alert of ``policy``, in policy order.

    Worked out once per policy (lint, the alert map and decisions all ask), and
    forgotten when the policy is.
    """
    found = _known.get(id(policy))
    if found is None:
        found = _known[id(policy)] = _conditions(policy)
        weakref.finalize(policy, _known.pop, id(policy), None)
    return found


def _conditions(policy: Policy) -> tuple[Condition, ...]:
    children = subcategories(policy)
    out = []
    for rule in policy.automatic_alerts:
        when = rule.when
        accepts: dict[TriggerKind, frozenset[str]] = {}
        via: Mapping[str, str] = NO_PARENTS
        if when.categories:
            if children:
                accepted = accepted_categories(when.categories, children)
                via = {c: p for c, p in accepted.items() if p is not None} or NO_PARENTS
                accepts["category"] = _values(tuple(sorted(accepted)))
            else:
                accepts["category"] = _values(tuple(sorted(when.categories)))
        if when.students:
            accepts["student"] = _values(tuple(sorted(when.students)))
        if when.student_groups:
            accepts["student_group"] = _values(tuple(sorted(when.student_groups)))
        out.append(Condition(rule.id, rule.match, accepts, via))
    return tuple(out)
