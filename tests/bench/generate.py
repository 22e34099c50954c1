"""Generate realistic policies and incidents at SPEC section 6 scale, for benchmarks.

``generate_policy(out_dir, scale, seed)`` writes a policy directory the way a school or a
multi-academy trust would split it. A school is one folder. A trust shares settings,
categories and user groups at the root, keeps its central safeguarding team and its few
trust-wide rules in ``trust/``, and gives each academy a folder ``academies/<academy>/``
with its own staff, alert groups and automatic alerts. Every academy rule is scoped to the
academy's students (``student_groups: [Oakfield Academy]`` or one of its year or form
groups, with ``match: all``), or names its students, as a trust on one policy must.
The result loads and passes lint.

With ``depth=True`` (``--domain-depth``) the policy also uses SPEC section 7 at scale:
every category has four sub-categories (60 parents, 240 sub-categories at trust scale),
some rules list a sub-category, one member of staff in ten is restricted to one to three
of their academy's tutor groups, and every student group is declared.

Students (see :mod:`tests.bench.schools`) are not part of a policy.
``generate_incidents(policy, n, seed)`` returns incidents about students of one academy,
reported (and sometimes alerted by hand) by that academy's staff, that hit a mix of rules.

    python -m tests.bench.generate OUT --scale trust [--seed N] [--domain-depth]
        [--incidents N --incidents-out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from alertpolicy.engine.errors import Location
from alertpolicy.engine.model import ALERT_PERMISSIONS, AutomaticAlert, Policy
from tests.bench.schools import (
    CATEGORIES,
    FIRST,
    FORMS,
    GROUP_SPECIALISMS,
    LAST,
    PASTORAL_CATEGORIES,
    ROLES,
    STUDENTS_PER_ACADEMY,
    TRUST_WIDE_CATEGORIES,
    YEARS,
    Academy,
    academies_of,
    slug,
    student_id,
)

Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Scale:
    """How big a generated policy is (SPEC section 6)."""

    academies: int
    staff: int
    categories: int
    user_groups: int
    alert_groups: int
    rules: int
    central_staff: int
    """Staff of the trust's central team (no academy); 0 for a single school."""
    students_per_academy: int = STUDENTS_PER_ACADEMY

    @property
    def students(self) -> int:
        """How many students the schools have between them."""
        return self.academies * self.students_per_academy


SCALES = {
    "school": Scale(1, 250, 40, 15, 20, 300, 0),
    "trust": Scale(25, 5_000, 60, 40, 500, 20_000, 4),
    # The largest real trust on one policy (issue 13): ~100,000 students in 90 academies.
    "largest": Scale(90, 10_000, 120, 80, 1_000, 40_000, 8, 1_112),
}


def students_per_academy(academies: int) -> int:
    """How many students each academy of a generated policy with ``academies`` has."""
    sizes = [s.students_per_academy for s in SCALES.values() if s.academies == academies]
    return sizes[0] if sizes else STUDENTS_PER_ACADEMY


SUB_KINDS = ("online", "in school", "outside school", "reported by a parent")
"""Each category's sub-categories, with ``depth``: ``Bullying (online)`` ..."""
RESTRICTED_SHARE = 0.1
"""With ``depth``: the share of staff restricted to some of their academy's tutor groups."""


def sub_categories(category: str) -> list[str]:
    """The sub-categories a deep generated policy gives ``category``."""
    return [f"{category} ({kind})" for kind in SUB_KINDS]


class _Builder:
    """Builds one generated policy as plain data, then writes it."""

    def __init__(self, scale: Scale, seed: int, depth: bool = False):
        self.scale = scale
        self.depth = depth
        self.rng = random.Random(seed)
        self.categories = list(CATEGORIES[: scale.categories])
        self.groups: dict[str, dict] = {}
        self.alertable: dict[str, frozenset[str] | None] = {}  # None = every category
        self.academies = academies_of(scale.academies, scale.students_per_academy)
        self.central: dict[str, dict] = {}
        self.central_rules: list[dict] = []
        self.users: dict[str, dict[str, dict]] = {a.name: {} for a in self.academies}
        self.alert_groups: dict[str, dict[str, dict]] = {a.name: {} for a in self.academies}
        self.rules: dict[str, list[dict]] = {a.name: [] for a in self.academies}
        self.alertable_staff: dict[str, list[str]] = {}
        self.taken: set[str] = set()

    def user_groups(self) -> None:
        """The user groups: the common roles, then specialist groups up to the scale."""
        specialisms = list(GROUP_SPECIALISMS)
        roles = list(ROLES)
        while len(roles) < self.scale.user_groups:
            roles.append((specialisms.pop(0), "some", ["view_students_list"], 1))
        for name, kind, system, _share in roles[: self.scale.user_groups]:
            if kind == "all":
                perms = {"*": list((*ALERT_PERMISSIONS, "add_incidents"))}
                self.alertable[name] = None
            elif kind == "add":
                perms = {"*": ["add_incidents"]}
                self.alertable[name] = frozenset()
            else:
                pool = [c for c in PASTORAL_CATEGORIES if c in self.categories]
                if kind == "some":
                    pool = self.rng.sample(self.categories, 4)
                perms = {c: [*ALERT_PERMISSIONS, "add_incidents"] for c in sorted(pool)}
                self.alertable[name] = frozenset(pool)
            self.groups[name] = {"system_permissions": system, "category_permissions": perms}
        self.shares = [(name, share) for name, _k, _s, share in roles[: self.scale.user_groups]]

    def _new_user(self, domain: str, group: str) -> tuple[str, dict]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        uid = base = f"{first[0]}{last}".lower()
        n = 1
        while uid in self.taken:
            n += 1
            uid = f"{base}{n}"
        self.taken.add(uid)
        user = {"name": f"{first} {last}", "email": f"{uid}@{domain}.example", "user_group": group}
        if self.alertable[group] is None:
            user["key_holder"] = True
        return uid, user

    def staff(self) -> None:
        """The trust's central team, then staff spread over the academies and user groups.

        Every academy has two DSLs; a few other staff have left (inactive).
        """
        names, weights = zip(*self.shares, strict=True)
        for _ in range(self.scale.central_staff):
            uid, user = self._new_user("trust", names[0])
            self.central[uid] = user
        count = len(self.academies)
        for i in range(self.scale.staff - self.scale.central_staff):
            academy = self.academies[i % count]
            group = names[0] if i < 2 * count else self.rng.choices(names, weights)[0]
            uid, user = self._new_user(academy.folder, group)
            if i >= 2 * count and self.rng.random() < 0.03:
                user["active"] = False
            self.users[academy.name][uid] = user

    def _active(self, academy: Academy) -> list[str]:
        return [u for u, d in self.users[academy.name].items() if d.get("active", True)]

    def alert_group_data(self) -> None:
        """Per academy: DSLs, pastoral team, year teams, then other teams up to the scale."""
        per_academy, extra = divmod(self.scale.alert_groups, len(self.academies))
        for academy in self.academies:
            wanted = max(1, per_academy + (academy.index < extra))
            active = self._active(academy)
            by_group: dict[str, list[str]] = {}
            for uid in active:
                by_group.setdefault(self.users[academy.name][uid]["user_group"], []).append(uid)
            dsls = by_group.get("DSL", [])
            teams = {"DSLs": ("All designated safeguarding leads", dsls)}
            pastoral = by_group.get("Pastoral", []) + by_group.get("Heads of Year", [])
            teams["Pastoral Team"] = ("Pastoral staff and heads of year", pastoral[:10] or dsls)
            for year in YEARS:
                if len(teams) >= wanted:
                    break
                members = self.rng.sample(active, min(6, len(active)))
                teams[f"Year {year} Team"] = (f"Staff who look after Year {year}", members)
            n = 1
            while len(teams) < wanted:
                members = self.rng.sample(active, min(self.rng.randint(3, 12), len(active)))
                teams[f"Team {n}"] = ("A working group of staff", members)
                n += 1
            prefix = f"{academy.place} " if academy.in_trust else ""
            for name, (description, members) in teams.items():
                self.alert_groups[academy.name][f"{prefix}{name}"] = {
                    "description": description,
                    "members": {"users": sorted(set(members))},
                }

    def rule_data(self) -> None:
        """Trust-wide rules for the central team, then each academy's own rules.

        An academy has a DSL rule per category, then a mix of the kinds schools use.
        """
        for category in TRUST_WIDE_CATEGORIES:
            if self.central and category in self.categories:
                self.central_rules.append(
                    {
                        "id": f"trust-{slug(category)}-to-central-safeguarding",
                        "description": "The trust's central safeguarding team, every academy",
                        "notify": {"users": sorted(self.central)},
                        "when": {"categories": [category]},
                    }
                )
        per_academy, extra = divmod(self.scale.rules - len(self.central_rules), len(self.academies))
        for academy in self.academies:
            whole = academy.name if academy.in_trust else None
            rules = self.rules[academy.name]
            groups = self.alert_groups[academy.name]
            dsl_group = next(g for g in groups if g.endswith("DSLs"))
            for category in self.categories:
                rules.append(
                    {
                        "id": f"{slug(academy.place)}-{slug(category)}-to-dsls",
                        "notify": {"alert_groups": [dsl_group]},
                        **self._scoped({"categories": [category]}, whole),
                    }
                )
            active = self._active(academy)
            wanted = per_academy + (academy.index < extra)
            while len(rules) < wanted:
                rules.append(self._rule(academy, len(rules), active, list(groups)))

    def _scoped(self, when: dict, group: str | None) -> dict:
        """``when`` limited to the students of ``group`` (``match: all``) if given."""
        if group is None:
            return {"when": when}
        return {"when": {**when, "student_groups": [group]}, "match": "all"}

    def _scope(self, academy: Academy) -> str | None:
        """The students a category rule is about: the academy, or one year or form."""
        draw = self.rng.random()
        year = self.rng.choice(YEARS)
        if not academy.in_trust:
            return academy.year_group(year) if draw < 0.3 else None
        if draw < 0.6:
            return academy.name
        if draw < 0.9:
            return academy.year_group(year)
        return academy.form_group(year, self.rng.choice(FORMS))

    def _reachable(self, uid: str, academy: Academy, categories: list[str]) -> bool:
        """Whether an automatic alert on ``categories`` (none: any) can reach ``uid``."""
        allowed = self.alertable[self.users[academy.name][uid]["user_group"]]
        if allowed is None:
            return True
        parents = [c.split(" (")[0] for c in categories]  # a sub-category inherits
        return all(c in allowed for c in parents) if categories else bool(allowed)

    def restrictions(self) -> None:
        """With ``depth``: one member of staff in ten sees only some of their forms."""
        for academy in self.academies:
            forms = [academy.form_group(year, form) for year in YEARS for form in FORMS]
            for user in self.users[academy.name].values():
                if self.rng.random() < RESTRICTED_SHARE:
                    groups = sorted(self.rng.sample(forms, self.rng.randint(1, 3)))
                    user["restricted_to"] = {"student_groups": groups}

    def _deepen(self, categories: list[str]) -> list[str]:
        """With ``depth``: some of a rule's categories become one of their sub-categories."""
        if not self.depth:
            return categories
        return [
            self.rng.choice(sub_categories(c)) if self.rng.random() < 0.25 else c
            for c in categories
        ]

    def student_group_data(self) -> list[dict]:
        """Every student group of every academy, declared with its kind and year."""
        declared: list[dict] = []
        for academy in self.academies:
            if academy.in_trust:
                declared.append({"name": academy.name, "kind": "other"})
            for year in YEARS:
                declared.append({"name": academy.year_group(year), "kind": "year", "year": year})
                declared += [
                    {"name": academy.form_group(year, form), "kind": "tutor", "year": year}
                    for form in FORMS
                ]
        return declared

    def _rule(self, academy: Academy, n: int, active: list[str], groups: list[str]) -> dict:
        rng = self.rng
        kind = rng.random()
        dsls = [groups[0]]
        if kind < 0.5:
            if academy.name not in self.alertable_staff:
                self.alertable_staff[academy.name] = [
                    u for u in active if self._reachable(u, academy, [])
                ] or active
            uid = rng.choice(self.alertable_staff[academy.name])
            pool = [c for c in self.categories if self._reachable(uid, academy, [c])]
            notify: dict = {"users": [uid]} if pool else {"alert_groups": dsls}
            picked = rng.sample(pool or self.categories, rng.randint(1, 3))
            when: dict = {"categories": self._deepen(picked)}
            rule = {"notify": notify, **self._scoped(when, self._scope(academy))}
        elif kind < 0.8:
            users = [u for u in rng.sample(active, 2) if self._reachable(u, academy, [])]
            student = student_id(rng.choice(academy.students))
            rule = {
                "notify": {"users": users} if users else {"alert_groups": dsls},
                "when": {"students": [student]},
            }
        else:
            group = rng.choice(groups)
            members = self.alert_groups[academy.name][group]["members"]["users"]
            pool = [
                c for c in self.categories if all(self._reachable(u, academy, [c]) for u in members)
            ]
            choices = pool or self.categories
            when = {"categories": rng.sample(choices, min(2, len(choices)))}
            whole = academy.name if academy.in_trust else None
            rule = {
                "notify": {"alert_groups": [group] if pool else dsls},
                **self._scoped(when, whole),
            }
        return {"id": f"{slug(academy.place)}-rule-{n:05d}", **rule}

    def write(self, out: Path) -> None:
        """Write the policy files: shared files at the root, then the trust and academies."""
        out.mkdir(parents=True, exist_ok=True)
        _dump(
            out / "settings.yaml",
            {
                "settings": {
                    "enforce_at_least_one_alert": True,
                    "automatic_alerts_count_for_enforcement": True,
                    "automatic_alert_permission": "every_category",
                }
            },
        )
        categories: list = list(self.categories)
        if self.depth:
            categories += [
                {"name": sub, "parent": c} for c in self.categories for sub in sub_categories(c)
            ]
            _dump(out / "student_groups.yaml", {"student_groups": self.student_group_data()})
        _dump(out / "categories.yaml", {"categories": categories})
        _dump(out / "user_groups.yaml", {"user_groups": self.groups})
        if self.central:
            (out / "trust").mkdir(exist_ok=True)
            _dump(out / "trust" / "users.yaml", {"users": self.central})
            _dump(out / "trust" / "automatic_alerts.yaml", {"automatic_alerts": self.central_rules})
        for academy in self.academies:
            folder = out / "academies" / academy.folder if academy.in_trust else out
            folder.mkdir(parents=True, exist_ok=True)
            _dump(folder / "users.yaml", {"users": self.users[academy.name]})
            _dump(folder / "alert_groups.yaml", {"alert_groups": self.alert_groups[academy.name]})
            _dump(folder / "automatic_alerts.yaml", {"automatic_alerts": self.rules[academy.name]})


def _dump(path: Path, data: dict) -> None:
    text = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )
    path.write_text(text, encoding="utf-8")


def generate_policy(
    out_dir: Path | str, scale: str = "trust", seed: int = 0, depth: bool = False
) -> Path:
    """Write a realistic, valid policy at ``scale`` ("school", "trust" or "largest") into
    ``out_dir``; with ``depth``, one using SPEC section 7 (see the module docstring).

    The same ``seed`` always writes the same files. Returns the directory.
    """
    builder = _Builder(SCALES[scale], seed, depth)
    builder.user_groups()
    builder.staff()
    if depth:
        builder.restrictions()
    builder.alert_group_data()
    builder.rule_data()
    out = Path(out_dir)
    builder.write(out)
    return out


@dataclass
class _Site:
    """One academy of a loaded policy: what is defined in its folder, and its students."""

    academy: Academy
    staff: list[str] = field(default_factory=list)
    alert_groups: list[str] = field(default_factory=list)
    rules: list[AutomaticAlert] = field(default_factory=list)
    members: dict[str, list[int]] = field(default_factory=dict)
    """Student numbers per student group, filled in when first needed."""

    def students_in(self, group: str) -> list[int]:
        """Its students in student ``group`` (none if the group is not one of its own)."""
        if not self.members:
            for number in self.academy.students:
                for name in self.academy.groups_of(number):
                    self.members.setdefault(name, []).append(number)
        return self.members.get(group, [])


def _folder(location: Location | None) -> str | None:
    """The academy folder a definition was read from (``academies/<folder>/...``)."""
    parts = PurePosixPath(location.file).parts if location else ()
    return parts[-2] if len(parts) >= 3 and parts[-3] == "academies" else None


def _sites(policy: Policy) -> tuple[list[_Site], list[AutomaticAlert]]:
    """The policy's academies (one school if it has no academy folders) and other rules."""
    folders = {
        parts[1]
        for f in policy.files
        if len(parts := PurePosixPath(f.path).parts) >= 3 and parts[0] == "academies"
    }
    if not folders:
        site = _Site(academies_of(1)[0])
        site.staff = [u.id for u in policy.users.values() if u.active]
        site.alert_groups = list(policy.alert_groups)
        site.rules = list(policy.automatic_alerts)
        return [site], []
    size = students_per_academy(len(folders))
    by_folder = {a.folder: _Site(a) for a in academies_of(len(folders), size)}
    if set(by_folder) != folders:
        raise ValueError(f"not a generated trust policy: academy folders {sorted(folders)}")
    for user in policy.users.values():
        if user.active and (folder := _folder(user.location)):
            by_folder[folder].staff.append(user.id)
    for group in policy.alert_groups.values():
        if folder := _folder(group.location):
            by_folder[folder].alert_groups.append(group.name)
    others: list[AutomaticAlert] = []
    for rule in policy.automatic_alerts:
        folder = _folder(rule.location)
        (by_folder[folder].rules if folder else others).append(rule)
    return list(by_folder.values()), others


def _student(site: _Site, rule: AutomaticAlert, rng: random.Random) -> tuple[str, list[str]]:
    """A student of ``site`` that ``rule`` is about when it names students or groups."""
    if rule.when.students:
        chosen = rng.choice(rule.when.students)
        number = int(chosen[1:]) if chosen[1:].isdigit() else site.academy.students.start
        if number not in site.academy.students:
            number = rng.choice(site.academy.students)
        return chosen, list(site.academy.groups_of(number))
    for group in rule.when.student_groups:
        if members := site.students_in(group):
            number = rng.choice(members)
            return student_id(number), list(site.academy.groups_of(number))
    number = rng.choice(site.academy.students)
    groups = {*site.academy.groups_of(number), *rule.when.student_groups}
    return student_id(number), sorted(groups)


def _in_a_sub_category(policy: Policy, category: str, rng: random.Random) -> str:
    """``category``, or (half the time) one of its sub-categories where it has some."""
    subs = [c for c, parent in policy.category_parents.items() if parent == category]
    return rng.choice(subs) if subs and rng.random() < 0.5 else category


def generate_incidents(policy: Policy, n: int, seed: int = 0) -> list[dict]:
    """``n`` incidents for ``policy``, each about students of one academy.

    Most are about what one of the academy's rules (sometimes a trust-wide one) is about;
    some also choose one of the academy's alert groups or staff by hand.
    """
    rng = random.Random(seed)
    sites, trust_rules = _sites(policy)
    everyone = [u.id for u in policy.users.values() if u.active]
    incidents = []
    for i in range(n):
        site = rng.choice(sites)
        rules: Sequence[AutomaticAlert] = site.rules or policy.automatic_alerts
        if trust_rules and rng.random() < 0.05:
            rules = trust_rules
        rule = rng.choice(rules)
        categories = list(rule.when.categories) or [rng.choice(policy.categories)]
        if policy.category_parents:
            categories = [_in_a_sub_category(policy, c, rng) for c in categories]
        if rng.random() < 0.2:
            categories.append(rng.choice(policy.categories))
        chosen_id, groups = _student(site, rule, rng)
        students = [{"id": chosen_id, "groups": groups}]
        if rng.random() < 0.1:
            number = rng.choice(site.academy.students)
            if student_id(number) != chosen_id:
                groups = list(site.academy.groups_of(number))
                students.append({"id": student_id(number), "groups": groups})
        staff = site.staff or everyone
        chosen = rng.random()
        alerts: dict[str, list[str]] = {"users": [], "alert_groups": []}
        if chosen < 0.3:
            alerts["alert_groups"] = [rng.choice(site.alert_groups or list(policy.alert_groups))]
        elif chosen < 0.5:
            alerts["users"] = [rng.choice(staff)]
        incidents.append(
            {
                "id": f"INC-{seed}-{i:06d}",
                "reported_by": rng.choice(staff),
                "categories": sorted(set(categories)),
                "students": students,
                "alerts": alerts,
                "metadata": {"source": "generated"},
            }
        )
    return incidents


def main(argv: list[str] | None = None) -> None:
    """Command line: write a policy, and optionally incidents as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write the policy into")
    parser.add_argument("--scale", choices=sorted(SCALES), default="trust")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--domain-depth", action="store_true", help="use SPEC section 7 (sub-categories ...)"
    )
    parser.add_argument("--incidents", type=int, default=0, help="how many incidents")
    parser.add_argument("--incidents-out", type=Path, help="JSON-lines file for incidents")
    args = parser.parse_args(argv)
    out = generate_policy(args.out, args.scale, args.seed, args.domain_depth)
    print(f"wrote {args.scale} policy to {out}")
    if args.incidents:
        if args.incidents_out is None:
            parser.error("--incidents needs --incidents-out FILE.jsonl")
        from alertpolicy.engine.check.build import load_policy

        policy = load_policy(out)
        lines = [
            json.dumps(i, sort_keys=True)
            for i in generate_incidents(policy, args.incidents, args.seed)
        ]
        args.incidents_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.incidents} incidents to {args.incidents_out}")


if __name__ == "__main__":
    main()
