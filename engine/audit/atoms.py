"""The diff's triggers: the alert map with each ``match: all`` rule split into single triggers.

In the alert map (:mod:`.alertmap`) a ``match: all`` rule listing several kinds is one
*combination* trigger named after its whole condition, so that editing the condition
renames the trigger: a diff on those triggers shows one alert lost and another gained,
never the part that changed.  Here such a rule is split into the smallest triggers it
fires for, each limited to the rule's categories.  ``categories: [Bullying, Behaviour],
student_groups: [Year 7], match: all`` fires on the trigger *student group Year 7* for
incidents in Bullying or Behaviour; a rule listing students and student groups fires on
each *student S + student group G*.  Removing Behaviour from that rule then shows as the
alerts lost for Behaviour incidents about Year 7 students, and nothing else.

Each trigger is a question ``alertpolicy who`` answers: ``--student-group "Year 7"`` gives
the standings of *student group Year 7* (every rule it fires whatever the category, and
each rule it fires with some categories only).  Category and alert-group triggers are
the alert map's own.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import product
from typing import NamedTuple

from alertpolicy.engine.audit.alertmap import INCIDENT, AlertMap, Standing, Trigger
from alertpolicy.engine.audit.standing import Contribution, settle
from alertpolicy.engine.audit.triggers import every_trigger, matched_label, rules_by_trigger
from alertpolicy.engine.model import AutomaticAlert

INCIDENT_ONLY = frozenset({INCIDENT})


class StudentRules(NamedTuple):
    """The rules by the categories they fire in, for any student or only for some."""

    anyone: dict[str, list[AutomaticAlert]]
    """Per category, the rules that fire on it whoever the student is."""
    some: dict[str, list[AutomaticAlert]]
    """Per category, rules that fire in it only for some students (not in every one)."""
    everywhere: list[tuple[AutomaticAlert, frozenset[str]]]
    """Rules that fire for some students in every category, each with its own categories
    (in which it fires for anyone)."""
    own_count: dict[str, int]
    """Per category, how many of ``everywhere`` list it as their own."""


class AtomicMap:
    """The standings of single triggers (see the module docstring), over an alert map."""

    def __init__(self, amap: AlertMap) -> None:
        self.amap = amap
        self.policy = amap.policy
        self._atoms_of: dict[str, tuple[Trigger, ...]] = {}
        self._pairs: dict[str, tuple[str, str]] = {}
        self._by_atom: dict[Trigger, list[AutomaticAlert]] | None = None
        self._reaching: dict[str, dict[Trigger, list[AutomaticAlert]]] = {}
        self._by_category: StudentRules | None = None

    def atoms_of(self, rule: AutomaticAlert) -> tuple[Trigger, ...]:
        """The single triggers ``rule`` fires on, sorted."""
        found = self._atoms_of.get(rule.id)
        if found is None:
            found = self._atoms_of[rule.id] = self._split(rule)
        return found

    def _split(self, rule: AutomaticAlert) -> tuple[Trigger, ...]:
        condition = self.amap.conditions[rule.id]
        if not condition.joint:
            return self.amap.triggers_of(rule)
        others = [(k, sorted(v)) for k, v in condition.accepts.items() if k != "category"]
        if len(others) == 1:
            kind, values = others[0]
            return tuple(Trigger(kind, value) for value in values)
        (_, students), (_, groups) = others  # kinds in order: student, student_group
        atoms = []
        for student, group in product(students, groups):
            label = f"student {student} + student group {group}"
            self._pairs[label] = (student, group)
            atoms.append(Trigger("combination", label))
        return tuple(sorted(atoms))

    def _index(self) -> dict[Trigger, list[AutomaticAlert]]:
        if self._by_atom is None:
            self._by_atom = rules_by_trigger(self.policy, self.atoms_of)
        return self._by_atom

    def triggers(self) -> list[Trigger]:
        """Every single trigger: each category, rule trigger and alert group; sorted."""
        return every_trigger(self.policy, self._index())

    def rules_for(self, atom: Trigger) -> tuple[AutomaticAlert, ...]:
        """The rules ``atom`` fires (in policy order; none for an alert group)."""
        return tuple(self._index().get(atom, ()))

    def values(self, atom: Trigger) -> dict[str, str]:
        """What an incident carries for ``atom``: ``{"student_group": "Year 7"}``, or a
        student and a student group for a combination."""
        if atom.kind == "combination":
            self._index()
            student, group = self._pairs[atom.value]
            return {"student": student, "student_group": group}
        return {atom.kind: atom.value}

    def atoms_reaching(self, user: str) -> dict[Trigger, list[AutomaticAlert]]:
        """The rule triggers whose alerts name ``user``, each with those rules."""
        found = self._reaching.get(user)
        if found is None:
            grouped: dict[Trigger, list[AutomaticAlert]] = defaultdict(list)
            for rule in self.amap.rules_reaching(user):
                for atom in self.atoms_of(rule):
                    grouped[atom].append(rule)
            found = self._reaching[user] = dict(grouped)
        return found

    def scope(self, rule: AutomaticAlert, atom: Trigger) -> frozenset[str]:
        """Where ``rule`` fires on ``atom``: the incident (a category trigger), or the
        categories of the single-category incidents it fires in."""
        if atom.kind == "category":
            return INCIDENT_ONLY
        return self.amap.scope(rule.id)

    def standings(self, atom: Trigger, users: frozenset[str] | None = None) -> dict[str, Standing]:
        """Every user ``atom`` reaches (or of ``users`` only) and where they stand."""
        if atom.kind == "alert_group" or (atom.kind == "category" and users is None):
            return self.amap.standings(atom, users)
        label = atom.label()
        parts: list[Contribution] = []
        if users is None:
            for rule in self.rules_for(atom):
                parts.append((rule.id, self.amap.notified(rule), self.scope(rule, atom), label))
        else:
            for user in sorted(users):
                if user not in self.policy.users:
                    continue
                for rule in self.atoms_reaching(user).get(atom, ()):
                    ways = {user: self.amap.notified(rule)[user]}
                    parts.append((rule.id, ways, self.scope(rule, atom), label))
        if atom.kind == "category":  # as the alert map's own, from this map's index
            return settle(self.amap, parts, (atom.value,), frozenset())
        if atom.kind == "student_group":
            known = frozenset({atom.value})
        elif atom.kind == "combination" and atom.value in self._pairs:
            known = frozenset({self._pairs[atom.value][1]})
        else:  # a student, or a combination no rule of this revision fires on
            known = frozenset()
        return settle(self.amap, parts, None, known)

    def _student_rules(self) -> StudentRules:
        """Per category, the rules that fire in it whoever the student is, and those that
        fire in it only for some students; apart, the rules that fire for some students
        in every category but their own (each in policy order)."""
        if self._by_category is None:
            found = StudentRules(defaultdict(list), defaultdict(list), [], defaultdict(int))
            every = len(self.amap.all_categories)
            for rule in self.policy.automatic_alerts:
                condition = self.amap.conditions[rule.id]
                own = frozenset() if condition.joint else condition.accepts.get("category")
                for category in own or ():
                    found.anyone[category].append(rule)
                if set(condition.accepts) <= {"category"}:
                    continue  # it fires on its categories, whoever the student is
                scope = self.amap.scope(rule.id)
                if len(scope) == every:
                    found.everywhere.append((rule, own or frozenset()))
                    for category in own or ():
                        found.own_count[category] += 1
                else:
                    for category in scope - (own or frozenset()):
                        found.some[category].append(rule)
            self._by_category = found
        return self._by_category

    def category_standings(self, category: str) -> dict[str, Standing]:
        """Who is alerted for an incident in ``category`` whoever its student is: the
        answer of :meth:`AlertMap.query` for that category alone, from an index of the
        rules that fire on their categories."""
        values = {"category": frozenset({category})}
        incident = frozenset({INCIDENT})
        parts: list[Contribution] = []
        for rule in self._student_rules().anyone.get(category, ()):
            condition = self.amap.conditions[rule.id]
            label = matched_label(condition, values)
            parts.append((rule.id, self.amap.notified(rule), incident, label))
        return settle(self.amap, parts, (category,), frozenset())

    def student_rules(self, category: str) -> list[AutomaticAlert]:
        """The rules that fire in ``category`` only for some students or student groups
        (not those that fire for every incident in it)."""
        found = self._student_rules()
        rules = list(found.some.get(category, ()))
        rules += [rule for rule, own in found.everywhere if category not in own]
        return rules

    def student_rule_count(self, category: str) -> int:
        """How many rules fire in ``category`` only for some students or student groups."""
        found = self._student_rules()
        everywhere = len(found.everywhere) - found.own_count.get(category, 0)
        return len(found.some.get(category, ())) + everywhere

    def for_category(
        self, category: str, students: int | None = None
    ) -> tuple[dict[Trigger, dict[str, Standing]], int]:
        """Who is alerted for an incident in ``category`` about a student, per single
        trigger the student carries (a student, a student group, both), counting only
        the rules that need that trigger; the incident's categories are known, so the
        standings carry access.  Sorted by trigger; with ``students``, only the first so
        many single students, and how many more there are."""
        parts: dict[Trigger, list[Contribution]] = defaultdict(list)
        incident = frozenset({INCIDENT})
        for rule in self.student_rules(category):
            for atom in self.atoms_of(rule):
                if atom.kind != "category":
                    parts[atom].append((rule.id, self.amap.notified(rule), incident, atom.label()))
        found = {}
        shown = skipped = 0
        for atom in sorted(parts, key=Trigger.sort_key):
            if atom.kind == "student" and students is not None:
                if shown >= students:
                    skipped += 1
                    continue
                shown += 1
            group = self.values(atom).get("student_group")
            known = frozenset({group} if group else ())
            found[atom] = settle(self.amap, parts[atom], (category,), known)
        return found, skipped
