"""Generate realistic policies and incidents at SPEC section 6 scale, for benchmarks.

``generate_policy(out_dir, scale, seed)`` writes a policy directory the way a school or a
multi-academy trust would split it (shared settings, categories and user groups; per
academy users, alert groups and automatic alerts). The result loads and passes lint.
``generate_incidents(policy, n, seed)`` returns incidents that hit a mix of rules.

    python -m tests.bench.generate OUT --scale trust [--seed N]
        [--incidents N --incidents-out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.model import ALERT_PERMISSIONS, Policy

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
    students: int


SCALES = {
    "school": Scale(1, 250, 40, 15, 20, 300, 2_000),
    "trust": Scale(25, 5_000, 60, 40, 500, 20_000, 50_000),
}

CATEGORIES = (
    "Bullying",
    "Self-harm",
    "Online safety",
    "Attendance",
    "Child-on-child abuse",
    "Domestic abuse",
    "Neglect",
    "Physical abuse",
    "Sexual abuse",
    "Emotional abuse",
    "Radicalisation",
    "Child sexual exploitation",
    "Child criminal exploitation",
    "County lines",
    "FGM",
    "Forced marriage",
    "Mental health",
    "Eating disorder",
    "Substance misuse",
    "Young carer",
    "Looked-after child",
    "Child in need",
    "Child protection plan",
    "Missing from education",
    "Missing from home",
    "Homelessness",
    "Bereavement",
    "Medical needs",
    "SEND",
    "Behaviour",
    "Suspension",
    "Racist incident",
    "Homophobic incident",
    "Transphobic incident",
    "Sexual harassment",
    "Nude image sharing",
    "Gang activity",
    "Knife crime",
    "Parental substance misuse",
    "Parental mental health",
    "Private fostering",
    "Honour-based abuse",
    "Trafficking",
    "Fabricated illness",
    "Anti-social behaviour",
    "Alcohol",
    "Vaping",
    "Prejudice-based bullying",
    "Cyberbullying",
    "Sexual violence",
    "Extremism",
    "Unexplained injury",
    "Disclosure",
    "Early help",
    "Persistent absence",
    "Lateness",
    "Financial hardship",
    "Housing concern",
    "Family breakdown",
    "Anxiety",
)
PASTORAL_CATEGORIES = (*CATEGORIES[:5], "Mental health", "Behaviour", "Anxiety", "Bereavement")
FIRST = (
    "Amelia",
    "Oliver",
    "Priya",
    "Mohammed",
    "Grace",
    "Jack",
    "Aisha",
    "Thomas",
    "Sophie",
    "Daniel",
    "Chloe",
    "Samuel",
    "Fatima",
    "James",
    "Emily",
    "Kwame",
    "Hannah",
    "Liam",
    "Zara",
    "Ethan",
    "Olivia",
    "Noah",
    "Isla",
    "Harry",
    "Leah",
    "Yusuf",
    "Megan",
    "Owen",
    "Niamh",
    "Arjun",
    "Ruth",
    "Callum",
    "Bethany",
    "Tomasz",
    "Ellie",
    "Rhys",
    "Abigail",
)
LAST = (
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Khan",
    "Patel",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Martin",
    "Jackson",
    "Clarke",
    "Okafor",
    "Ahmed",
    "Nowak",
    "Murphy",
    "Kaur",
    "Begum",
    "Singh",
)
PLACES = (
    "Oakfield",
    "Riverside",
    "Hillcrest",
    "Meadowbank",
    "Ashgrove",
    "Kingsmead",
    "Elmwood",
    "Northgate",
    "Southfields",
    "Westbrook",
    "Eastleigh",
    "Brookside",
    "Fairview",
    "Highcliffe",
    "Larkhill",
    "Millbrook",
    "Redwood",
    "Stonebridge",
    "Thornbury",
    "Valley",
    "Willowdale",
    "Beechwood",
    "Castlefield",
    "Dovecote",
    "Greenacre",
    "Hawthorn",
    "Ivydene",
    "Juniper",
)
# (user group, category permissions kind, system permissions, share of staff)
ROLES = (
    ("DSL", "all", ["view_student_details", "view_students_list", "admin"], 2),
    ("Deputy DSL", "all", ["view_student_details", "view_students_list"], 3),
    ("Senior Leadership", "all", ["view_student_details", "view_students_list"], 4),
    ("Pastoral", "pastoral", ["view_student_details", "view_students_list"], 8),
    ("Heads of Year", "pastoral", ["view_student_details", "view_students_list"], 6),
    ("SENCo", "some", ["view_student_details", "view_students_list"], 2),
    ("Attendance Officers", "some", ["view_students_list"], 3),
    ("Teaching Staff", "add", [], 45),
    ("Teaching Assistants", "add", [], 15),
    ("Office Staff", "add", [], 6),
)
GROUP_SPECIALISMS = (
    "Mental Health Leads",
    "Online Safety Leads",
    "Prevent Leads",
    "Looked-after Children",
    "Early Help",
    "Inclusion",
    "Family Support",
    "School Nurses",
    "Sixth Form Team",
    "Primary Phase Leads",
    "Behaviour Team",
    "Exams Office",
    "IT Support",
    "Trust Safeguarding",
    "Trust Executive",
    "Data Managers",
    "Careers",
    "Wellbeing Mentors",
    "Learning Mentors",
    "Counsellors",
    "Chaplaincy",
    "Educational Psychologists",
    "Youth Workers",
    "Governors",
    "Cover Supervisors",
    "Site Team",
    "Catering",
    "Library",
    "Music Service",
    "PE Department",
)
YEARS = tuple(f"Year {y}" for y in range(7, 14))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _Builder:
    """Builds one generated policy as plain data, then writes it."""

    def __init__(self, scale: Scale, seed: int):
        self.scale = scale
        self.rng = random.Random(seed)
        self.categories = list(CATEGORIES[: scale.categories])
        self.groups: dict[str, dict] = {}
        self.alertable: dict[str, frozenset[str] | None] = {}  # None = every category
        self.academies = [f"{p} Academy" for p in PLACES[: scale.academies]]
        if scale.academies == 1:
            self.academies = ["Oakfield School"]
        self.users: dict[str, dict[str, dict]] = {a: {} for a in self.academies}
        self.alert_groups: dict[str, dict[str, dict]] = {a: {} for a in self.academies}
        self.rules: dict[str, list[dict]] = {a: [] for a in self.academies}
        self.alertable_staff: dict[str, list[str]] = {}

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

    def staff(self) -> None:
        """Staff spread over the academies and user groups; a few have left (inactive)."""
        names, weights = zip(*self.shares, strict=True)
        taken: set[str] = set()
        for i in range(self.scale.staff):
            academy = self.academies[i % len(self.academies)]
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            uid = base = f"{first[0]}{last}".lower()
            n = 1
            while uid in taken:
                n += 1
                uid = f"{base}{n}"
            taken.add(uid)
            group = names[0] if i < 2 * len(self.academies) else self.rng.choices(names, weights)[0]
            user = {
                "name": f"{first} {last}",
                "email": f"{uid}@{_slug(academy)}.example",
                "user_group": group,
            }
            if self.alertable[group] is None:
                user["key_holder"] = True
            if i >= 2 * len(self.academies) and self.rng.random() < 0.03:
                user["active"] = False
            self.users[academy][uid] = user

    def _active(self, academy: str) -> list[str]:
        return [u for u, d in self.users[academy].items() if d.get("active", True)]

    def alert_group_data(self) -> None:
        """Per academy: DSLs, pastoral team, year teams, then other teams up to the scale."""
        per_academy = max(1, self.scale.alert_groups // len(self.academies))
        for academy in self.academies:
            active = self._active(academy)
            by_group: dict[str, list[str]] = {}
            for uid in active:
                by_group.setdefault(self.users[academy][uid]["user_group"], []).append(uid)
            dsls = by_group.get("DSL", [])
            teams = {"DSLs": ("All designated safeguarding leads", dsls)}
            pastoral = by_group.get("Pastoral", []) + by_group.get("Heads of Year", [])
            teams["Pastoral Team"] = ("Pastoral staff and heads of year", pastoral[:10] or dsls)
            for year in YEARS:
                if len(teams) >= per_academy:
                    break
                members = self.rng.sample(active, min(6, len(active)))
                teams[f"{year} Team"] = (f"Staff who look after {year}", members)
            n = 1
            while len(teams) < per_academy:
                members = self.rng.sample(active, min(self.rng.randint(3, 12), len(active)))
                teams[f"Team {n}"] = ("A working group of staff", members)
                n += 1
            prefix = "" if len(self.academies) == 1 else f"{academy.split()[0]} "
            for name, (description, members) in teams.items():
                self.alert_groups[academy][f"{prefix}{name}"] = {
                    "description": description,
                    "members": {"users": sorted(set(members))},
                }

    def rule_data(self) -> None:
        """Rules per academy: a DSL rule per category, then a mix of the kinds schools use."""
        per_academy = self.scale.rules // len(self.academies)
        for academy in self.academies:
            rules = self.rules[academy]
            slug = _slug(academy.split()[0])
            groups = self.alert_groups[academy]
            dsl_group = next(g for g in groups if g.endswith("DSLs"))
            for category in self.categories:
                rules.append(
                    {
                        "id": f"{slug}-{_slug(category)}-to-dsls",
                        "notify": {"alert_groups": [dsl_group]},
                        "when": {"categories": [category]},
                    }
                )
            active = self._active(academy)
            while len(rules) < per_academy:
                rules.append(self._rule(academy, slug, len(rules), active, list(groups)))

    def _reachable(self, uid: str, academy: str, categories: list[str]) -> bool:
        """Whether an automatic alert on ``categories`` (none: any) can reach ``uid``."""
        allowed = self.alertable[self.users[academy][uid]["user_group"]]
        if allowed is None:
            return True
        return all(c in allowed for c in categories) if categories else bool(allowed)

    def _rule(self, academy: str, slug: str, n: int, active: list[str], groups: list[str]) -> dict:
        rng = self.rng
        kind = rng.random()
        dsls = [groups[0]]
        if kind < 0.5:
            if academy not in self.alertable_staff:
                self.alertable_staff[academy] = [
                    u for u in active if self._reachable(u, academy, [])
                ] or active
            uid = rng.choice(self.alertable_staff[academy])
            pool = [c for c in self.categories if self._reachable(uid, academy, [c])]
            notify: dict = {"users": [uid]} if pool else {"alert_groups": dsls}
            when: dict = {"categories": rng.sample(pool or self.categories, rng.randint(1, 3))}
            rule: dict = {"notify": notify, "when": when}
            if rng.random() < 0.3:
                when["student_groups"] = [rng.choice(YEARS)]
                rule["match"] = "all"
        elif kind < 0.8:
            users = [u for u in rng.sample(active, 2) if self._reachable(u, academy, [])]
            student = f"S{rng.randint(1, self.scale.students):06d}"
            rule = {
                "notify": {"users": users} if users else {"alert_groups": dsls},
                "when": {"students": [student]},
            }
        else:
            group = rng.choice(groups)
            members = self.alert_groups[academy][group]["members"]["users"]
            pool = [
                c for c in self.categories if all(self._reachable(u, academy, [c]) for u in members)
            ]
            rule = {
                "notify": {"alert_groups": [group] if pool else dsls},
                "when": {"categories": rng.sample(pool or self.categories, 2)},
            }
        return {"id": f"{slug}-rule-{n:05d}", **rule}

    def write(self, out: Path) -> None:
        """Write the policy files: shared files at the root, one folder per academy."""
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
        _dump(out / "categories.yaml", {"categories": self.categories})
        _dump(out / "user_groups.yaml", {"user_groups": self.groups})
        for academy in self.academies:
            folder = out if len(self.academies) == 1 else out / "academies" / _slug(academy)
            folder.mkdir(parents=True, exist_ok=True)
            _dump(folder / "users.yaml", {"users": self.users[academy]})
            _dump(folder / "alert_groups.yaml", {"alert_groups": self.alert_groups[academy]})
            _dump(folder / "automatic_alerts.yaml", {"automatic_alerts": self.rules[academy]})


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


def generate_policy(out_dir: Path | str, scale: str = "trust", seed: int = 0) -> Path:
    """Write a realistic, valid policy at ``scale`` ("school" or "trust") into ``out_dir``.

    The same ``seed`` always writes the same files. Returns the directory.
    """
    builder = _Builder(SCALES[scale], seed)
    builder.user_groups()
    builder.staff()
    builder.alert_group_data()
    builder.rule_data()
    out = Path(out_dir)
    builder.write(out)
    return out


def generate_incidents(policy: Policy, n: int, seed: int = 0) -> list[dict]:
    """``n`` incidents for ``policy``: most hit a rule, some choose users or alert groups."""
    rng = random.Random(seed)
    rules = policy.automatic_alerts
    active = [u.id for u in policy.users.values() if u.active]
    alert_groups = list(policy.alert_groups)
    incidents = []
    for i in range(n):
        rule = rng.choice(rules)
        categories = list(rule.when.categories) or [rng.choice(policy.categories)]
        if rng.random() < 0.2:
            categories.append(rng.choice(policy.categories))
        student = {
            "id": rule.when.students[0] if rule.when.students else f"S{rng.randint(1, 50_000):06d}",
            "groups": sorted({rng.choice(YEARS), *rule.when.student_groups}),
        }
        chosen = rng.random()
        alerts: dict[str, list[str]] = {"users": [], "alert_groups": []}
        if chosen < 0.3:
            alerts["alert_groups"] = [rng.choice(alert_groups)]
        elif chosen < 0.5:
            alerts["users"] = [rng.choice(active)]
        incidents.append(
            {
                "id": f"INC-{seed}-{i:06d}",
                "reported_by": rng.choice(active),
                "categories": sorted(set(categories)),
                "students": [student],
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
    parser.add_argument("--incidents", type=int, default=0, help="how many incidents")
    parser.add_argument("--incidents-out", type=Path, help="JSON-lines file for incidents")
    args = parser.parse_args(argv)
    out = generate_policy(args.out, args.scale, args.seed)
    print(f"wrote {args.scale} policy to {out}")
    if args.incidents:
        if args.incidents_out is None:
            parser.error("--incidents needs --incidents-out FILE.jsonl")
        from engine.load import load_policy

        policy = load_policy(out)
        lines = [
            json.dumps(i, sort_keys=True)
            for i in generate_incidents(policy, args.incidents, args.seed)
        ]
        args.incidents_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.incidents} incidents to {args.incidents_out}")


if __name__ == "__main__":
    main()
