"""What changed in one automatic alert, part by part, in words a school admin reads.

An edited rule is reported as each thing added to or removed from it (a category,
student or student group it fires for; a user, user group or alert group it notifies),
``match`` switched between any and all, and its description edited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alertpolicy.engine.model import AutomaticAlert

WHEN_FIELDS = (
    ("categories", "category", "categories"),
    ("students", "student", "students"),
    ("student_groups", "student group", "student groups"),
)
NOTIFY_FIELDS = (
    ("users", "user", "users"),
    ("user_groups", "user group", "user groups"),
    ("alert_groups", "alert group", "alert groups"),
)
FIELD_WORDS = {
    **{field: (one, many) for field, one, many in WHEN_FIELDS},
    **{f"notify.{field}": (one, many) for field, one, many in NOTIFY_FIELDS},
}


@dataclass(frozen=True, order=True)
class RuleEdit:
    """One part of a rule that changed.

    ``field`` is ``categories``, ``students``, ``student_groups`` (when it fires),
    ``notify.users``, ``notify.user_groups``, ``notify.alert_groups`` (whom it notifies)
    with the names ``added`` and ``removed``; or ``match`` with ``before`` and ``after``;
    or ``description``.
    """

    field: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    before: str | None = None
    after: str | None = None

    def text(self) -> str:
        """``category Peer relationships removed``, ``now notifies user mokafor`` ..."""
        if self.field == "match":
            return f"match switched from {self.before} to {self.after}"
        if self.field == "description":
            return "description edited"
        one, many = FIELD_WORDS[self.field]
        parts = []
        for names, verb in ((self.added, "added"), (self.removed, "removed")):
            if not names:
                continue
            what = f"{one if len(names) == 1 else many} {', '.join(names)}"
            if self.field.startswith("notify."):
                now = "now notifies" if verb == "added" else "no longer notifies"
                parts.append(f"{now} {what}")
            else:
                parts.append(f"{what} {verb}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The edit as in ``schemas/diff.schema.json``."""
        found: dict[str, Any] = {"field": self.field}
        if self.field == "match":
            found.update(before=self.before, after=self.after)
        elif self.field != "description":
            found.update(added=list(self.added), removed=list(self.removed))
        return found


def _listed(field: str, before: Iterable[str], after: Iterable[str]) -> list[RuleEdit]:
    old, new = set(before), set(after)
    if old == new:
        return []
    return [RuleEdit(field, tuple(sorted(new - old)), tuple(sorted(old - new)))]


def rule_edits(old: AutomaticAlert, new: AutomaticAlert) -> tuple[RuleEdit, ...]:
    """Every part of a rule that changed between ``old`` and ``new``, in reading order:
    when it fires, whom it notifies, ``match``, the description."""
    edits: list[RuleEdit] = []
    for field, _, _ in WHEN_FIELDS:
        edits += _listed(field, getattr(old.when, field), getattr(new.when, field))
    for field, _, _ in NOTIFY_FIELDS:
        before, after = getattr(old.notify, field), getattr(new.notify, field)
        edits += _listed(f"notify.{field}", before, after)
    if old.match != new.match:
        edits.append(RuleEdit("match", before=old.match, after=new.match))
    if old.description != new.description:
        edits.append(RuleEdit("description"))
    return tuple(edits)


def describe_rule_edit(old: AutomaticAlert, new: AutomaticAlert) -> str:
    """What changed in a rule, in words: ``category Online safety added; match switched
    from all to any``."""
    return "; ".join(edit.text() for edit in rule_edits(old, new))
