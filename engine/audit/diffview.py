"""A policy diff in words, once, for every human format: text, markdown and HTML.

:func:`diff_view` turns a :class:`~.diffmodel.PolicyDiff` into sentences (the summary,
each setting and object change with the users it affects, each alert change with its
routes and causes); :func:`diff_text` and :func:`diff_markdown` lay them out, and the HTML
page (:mod:`.pages`) renders the same view, so that every format says the same.  JSON is
the model's own (``PolicyDiff.to_json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alertpolicy.engine.audit.diffmodel import AlertChange, ChangeKind, PolicyDiff, Route
from alertpolicy.engine.check.render import Style, plain

CHANGE_WORDS: Mapping[ChangeKind, str] = {
    "gains": "gains alert",
    "loses": "loses alert",
    "newly_withheld": "newly withheld",
    "no_longer_withheld": "no longer withheld",
    "restriction_changed": "class restriction changes",
    "access_changed": "access changes",
}
AFFECT_WORDS: Mapping[ChangeKind, tuple[str, str]] = {
    "gains": ("{} gains alerts", "{} gain alerts"),
    "loses": ("{} loses alerts", "{} lose alerts"),
    "newly_withheld": ("{} becomes withheld", "{} become withheld"),
    "no_longer_withheld": ("{} is no longer withheld", "{} are no longer withheld"),
    "restriction_changed": (
        "{} is alerted about other students",
        "{} are alerted about other students",
    ),
    "access_changed": ("access changes for {}", "access changes for {}"),
}
"""How a line about an object change says whom it affects (one user, several)."""
MARKS: Mapping[ChangeKind, str] = {"gains": "+", "loses": "-"}
CHANGE_STYLE: Mapping[ChangeKind, str] = {
    "gains": "green",
    "loses": "red",
    "newly_withheld": "yellow",
    "no_longer_withheld": "cyan",
    "restriction_changed": "magenta",
    "access_changed": "blue",
}
SECTION_TITLES = {
    "category": "Categories",
    "student_group": "Student groups",
    "student": "Students",
    "combination": "Students in a student group (match: all)",
    "alert_group": "Alert groups (chosen by hand)",
}
SHOWN_NAMES = 10
"""How many users a line about an object change names before "and N more"."""


@dataclass(frozen=True)
class ChangeLine:
    """One alert change in words."""

    trigger: str
    user: str
    who: str
    """``jobrien (Joanne O'Brien)``."""
    change: ChangeKind
    mark: str
    text: str
    """``loses alert for incidents in Peer relationships via rule year-7-...``."""
    causes: tuple[str, ...]


@dataclass(frozen=True)
class EditLine:
    """One setting or object change, and whom it affects."""

    kind: str
    detail: str
    affects: str
    """``jobrien loses alerts; 3 users' access changes: ...`` (empty: nobody's alerts)."""


@dataclass(frozen=True)
class Section:
    """The alert changes of one kind of trigger."""

    kind: str
    title: str
    lines: tuple[ChangeLine, ...]


@dataclass(frozen=True)
class DiffView:
    """A diff in sentences, ready to lay out."""

    base: str
    head: str
    summary: str
    settings: tuple[EditLine, ...]
    edits: tuple[EditLine, ...]
    sections: tuple[Section, ...]
    changed: bool


def routes_text(routes: Iterable[Route]) -> str:
    """``rule a``, ``rules a, b``, ``alert group DSLs``, ``rule a and alert group DSLs``."""
    rules = [r.name for r in routes if r.kind == "rule"]
    groups = [r.name for r in routes if r.kind == "alert_group"]
    parts = []
    if rules:
        parts.append(("rule " if len(rules) == 1 else "rules ") + ", ".join(rules))
    if groups:
        parts.append(("alert group " if len(groups) == 1 else "alert groups ") + ", ".join(groups))
    return " and ".join(parts)


def change_text(change: AlertChange) -> str:
    """``loses alert for incidents in Peer relationships via rule R (no longer notified)``."""
    if change.access is not None:
        words = f"access changes from {change.access[0]} to {change.access[1]}"
    else:
        words = CHANGE_WORDS[change.change]
    if change.every_category:
        words += " for incidents in every category"
    elif change.categories:
        words += f" for incidents in {', '.join(change.categories)}"
    if change.via:
        words += f" via {routes_text(change.via)}"
    if change.detail and change.access is None:
        words += f" ({change.detail})"
    return words


def _names(users: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, ... and 12 more``."""
    more = len(users) - SHOWN_NAMES
    if more > 0:
        return f"{', '.join(users[:SHOWN_NAMES])} and {more} more"
    if len(users) == 1:
        return users[0]
    return f"{', '.join(users[:-1])} and {users[-1]}"


def affects_text(affects: Mapping[ChangeKind, tuple[str, ...]]) -> str:
    """``a and b gain alerts; c loses alerts`` (each kind's users, the first few named)."""
    return "; ".join(
        AFFECT_WORDS[kind][len(users) > 1].format(_names(users)) for kind, users in affects.items()
    )


def diff_view(diff: PolicyDiff) -> DiffView:
    """``diff`` in sentences (see the module docstring)."""
    lines = [
        ChangeLine(
            trigger=c.trigger.label(),
            user=c.user,
            who=f"{c.user} ({diff.names[c.user]})" if diff.names.get(c.user) else c.user,
            change=c.change,
            mark=MARKS.get(c.change, "~"),
            text=change_text(c),
            causes=c.causes,
        )
        for c in diff.changes
    ]
    kinds = [c.trigger.kind for c in diff.changes]
    sections = tuple(
        Section(kind, title, tuple(line for line, k in zip(lines, kinds, strict=True) if k == kind))
        for kind, title in SECTION_TITLES.items()
        if kind in kinds
    )
    settings = tuple(
        EditLine(
            s.setting,
            f"{s.detail} ({s.effect})",
            affects_text(diff.affects(s.detail)),
        )
        for s in diff.settings
    )
    edits = tuple(
        EditLine(p.kind, p.detail, affects_text(diff.affects(p.detail)))
        for p in diff.policy_changes
    )
    return DiffView(
        base=f"{diff.base[0]} ({diff.base[1]})",
        head=f"{diff.head[0]} ({diff.head[1]})",
        summary=diff.summary(),
        settings=settings,
        edits=edits,
        sections=sections,
        changed=diff.changed,
    )


def diff_text(diff: PolicyDiff, style: Style = plain) -> list[str]:
    """A policy diff as lines of text for a terminal."""
    view = diff_view(diff)
    lines = [f"{view.base} -> {view.head}"]
    for setting in view.settings:
        lines.append(style(setting.detail, bold=True))
        if setting.affects:
            lines.append(f"      affects: {setting.affects}")
    if view.edits:
        lines.append(style(f"Changes to the policy ({len(view.edits)}):", bold=True))
    for edit in view.edits:
        lines.append(f"  {edit.detail}")
        if edit.affects:
            lines.append(f"      affects: {edit.affects}")
    if view.sections:
        lines.append(style("Whose alerts change:", bold=True))
    for section in view.sections:
        current = None
        for line in section.lines:
            if line.trigger != current:
                current = line.trigger
                lines.append(style(current, bold=True))
            text = f"  {line.mark} {line.who}: {line.text}"
            lines.append(style(text, fg=CHANGE_STYLE[line.change]))
            lines.extend(f"      because {cause}" for cause in line.causes)
    lines.append(style(view.summary, bold=True))
    return lines


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def diff_markdown(diff: PolicyDiff) -> list[str]:
    """A policy diff as markdown for a pull-request comment."""
    view = diff_view(diff)
    lines = [f"**{_cell(view.summary)}**", ""]
    lines.append(f"Base `{_cell(view.base)}` → head `{_cell(view.head)}`")
    if view.settings or view.edits:
        lines += ["", "#### Changes to the policy", "", "| Change | Affects |", "|---|---|"]
        lines += [
            f"| {_cell(e.detail)} | {_cell(e.affects) or '—'} |" for e in view.settings + view.edits
        ]
    for section in view.sections:
        lines += [
            "",
            f"#### {section.title}",
            "",
            "| Trigger | User | Change | Cause |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(line.trigger)} | {_cell(line.who)} | {_cell(line.text)} "
            f"| {_cell('; '.join(line.causes))} |"
            for line in section.lines
        ]
    return lines
