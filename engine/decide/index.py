"""The trigger index of one revision: which automatic alerts listen for which trigger keys.

Built from the rules' conditions (:func:`alertpolicy.engine.rules.conditions`): a rule
listens for every incident value it accepts, so a rule listing a parent category listens
for each of its sub-categories too, and an incident in a sub-category finds it without any
scan.  A matched trigger stands for the rules it fires by itself (``match: any``, or
``match: all`` on one kind) and for the ``match: all`` rules on several kinds, grouped by
the kinds they list, so that finding which of those fire intersects a few sets instead of
testing every rule that shares one trigger (in a multi-academy trust, every academy's
rules share the category triggers).  The plain twin it is proven against is
:meth:`Condition.matched` asked of every rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alertpolicy.engine.model import TriggerKind
from alertpolicy.engine.rules import Condition, Matched


def trigger_key(kind: str, value: str) -> str:
    """The key of a trigger: ``"category:Bullying"``, ``"student:S1001"``..."""
    return f"{kind}:{value}"


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger key of a revision and the rules listening for it."""

    kind: TriggerKind
    value: str
    alone: tuple[int, ...]
    """Rules this trigger fires by itself: ``match: any``, or ``match: all`` on one kind."""
    jointly: tuple[tuple[tuple[TriggerKind, ...], frozenset[int]], ...]
    """``match: all`` rules on several kinds, grouped by the kinds they list (sorted)."""


@dataclass(frozen=True)
class TriggerIndex:
    """Which automatic alerts listen for which trigger keys, at one revision."""

    conditions: tuple[Condition, ...]
    """Each rule's condition, by rule number (policy order)."""
    triggers: Mapping[str, Trigger]
    """Every trigger key the policy listens for, sorted, with its trigger."""
    fixed_matched: Mapping[int, Matched]
    """Per rule whose ``matched`` is the same whenever it fires (it accepts one value of
    one kind, or is ``match: all`` accepting one value of each kind): that ``matched``."""
    subscriptions: int
    """How many distinct (rule, kind, value) subscriptions the triggers stand for."""
    joint_accepts: Mapping[int, tuple[tuple[TriggerKind, frozenset[str]], ...]]
    """Per ``match: all`` rule on several kinds: each kind it lists (sorted) with the
    values it accepts."""

    def fired(
        self, matched: Iterable[Trigger], values: Mapping[str, frozenset[str]]
    ) -> dict[int, Matched]:
        """The rules that fire, with their ``matched``, given the triggers an incident with
        ``values`` matched (sorted by key, as the matcher returns them).

        A rule a trigger fires by itself matched, per kind, the first trigger value of that
        kind seen (keys are sorted, so the smallest); a ``match: all`` rule on several
        kinds fires when a trigger of every kind it lists stands for it.
        """
        alone: dict[int, dict[str, str]] = {}
        reached: dict[tuple[TriggerKind, ...], dict[str, list[frozenset[int]]]] = {}
        for trigger in matched:
            kind = trigger.kind
            for rule in trigger.alone:
                kinds = alone.get(rule)
                if kinds is None:
                    alone[rule] = {kind: trigger.value}
                elif kind not in kinds:
                    kinds[kind] = trigger.value
            for combo, rules in trigger.jointly:
                reached.setdefault(combo, {}).setdefault(kind, []).append(rules)
        fixed = self.fixed_matched
        fired = {rule: fixed.get(rule) or tuple(kinds.items()) for rule, kinds in alone.items()}
        # The smallest incident value in each (kind, accepted set): rules share accepted
        # sets (conditions intern them), so each is worked out once.
        smallest: dict[tuple[str, frozenset[str]], tuple[str, str]] = {}
        for combo, by_kind in reached.items():
            if len(by_kind) < len(combo):
                continue
            for rule in _in_every_kind(list(by_kind.values())):
                found = fixed.get(rule)
                if found is None:  # every kind matched: the smallest value of each
                    pairs = []
                    for accepts in self.joint_accepts[rule]:  # (kind, values accepted)
                        pair = smallest.get(accepts)
                        if pair is None:
                            kind, accepted = accepts
                            pair = smallest[accepts] = (kind, min(accepted & values[kind]))
                        pairs.append(pair)
                    found = tuple(pairs)
                fired[rule] = found
        return fired


def _in_every_kind(sets_by_kind: list[list[frozenset[int]]]) -> set[int]:
    """The rules found in at least one set of every kind.

    Starts from the rules of the kind with the fewest, and keeps those also in a set of
    each other kind: each intersection walks the smaller side, never a whole kind's
    rules (which, for the groups of a hundred students, are thousands).
    """
    sets_by_kind.sort(key=lambda sets: sum(map(len, sets)))
    found: set[int] = set().union(*sets_by_kind[0])
    for sets in sets_by_kind[1:]:
        found = set().union(*[found & rules for rules in sets])
    return found


def index_triggers(conditions: tuple[Condition, ...]) -> TriggerIndex:
    """The trigger keys the rules with ``conditions`` listen for, and who listens."""
    kind_value: dict[str, tuple[TriggerKind, str]] = {}
    alone: dict[str, list[int]] = {}
    jointly: dict[str, dict[tuple[TriggerKind, ...], set[int]]] = {}
    fixed_matched: dict[int, Matched] = {}
    joint_accepts: dict[int, tuple[tuple[TriggerKind, frozenset[str]], ...]] = {}
    subscriptions = 0
    for number, condition in enumerate(conditions):
        accepts = condition.accepts
        joint = condition.joint
        combo = tuple(sorted(accepts))
        if (joint or len(accepts) == 1) and all(len(v) == 1 for v in accepts.values()):
            fixed_matched[number] = tuple((kind, min(accepts[kind])) for kind in combo)
        if joint:
            joint_accepts[number] = tuple((kind, accepts[kind]) for kind in combo)
        for kind, values in accepts.items():
            for value in sorted(values):
                key = trigger_key(kind, value)
                kind_value[key] = (kind, value)
                subscriptions += 1
                if joint:
                    jointly.setdefault(key, {}).setdefault(combo, set()).add(number)
                else:
                    alone.setdefault(key, []).append(number)
    triggers = {}
    for key in sorted(kind_value):
        combos = jointly.get(key, {})
        triggers[key] = Trigger(
            *kind_value[key],
            alone=tuple(alone.get(key, ())),
            jointly=tuple((combo, frozenset(combos[combo])) for combo in sorted(combos)),
        )
    return TriggerIndex(conditions, triggers, fixed_matched, subscriptions, joint_accepts)
