"""Decisions in plain English, and the wording of every rejection and warning.

Both evaluators (the engine and the reference) take their rejection and warning texts from
here, so the same situation always reads the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertpolicy.engine.model import (
    Decision,
    DecisionWarning,
    Reason,
    Recipient,
    Rejection,
    Settings,
    User,
)

ACCESS_WORDS = {
    "full": "full access",
    "needs_key": "can open it once they have a key",
    "none": "cannot open it",
}
KIND_WORDS = {"category": "category", "student": "student", "student_group": "student group"}


def rejection_for(code: str, settings: Settings) -> Rejection:
    """The rejection with ``code`` (``no_alert_chosen`` / ``no_recipients``), worded."""
    if code == "no_alert_chosen":
        if settings.automatic_alerts_count_for_enforcement:
            why = "no user or alert group was chosen and no automatic alert reaches anyone"
        else:
            why = (
                "no user or alert group was chosen (automatic alerts do not count towards "
                "this rule)"
            )
        return Rejection(
            "no_alert_chosen",
            f"This school requires every incident to alert someone, but {why}. "
            "Choose at least one user or alert group.",
        )
    return Rejection(
        "no_recipients",
        "This school requires every incident to alert someone, but nobody you chose (and "
        "no automatic alert) would receive it: every chosen user is inactive or the chosen "
        "alert groups have no active members.",
    )


def cannot_open_warning(user: User) -> DecisionWarning:
    """The warning that a recipient will be alerted but cannot open the incident."""
    return DecisionWarning(
        "recipient_cannot_open",
        f"{user.name} <{user.email}> will be alerted but cannot open the incident: their "
        "user group lacks view_incidents on its categories or the student system permissions.",
        user=user.id,
    )


def cannot_see_warning(user: User, restricted_to: Sequence[str]) -> DecisionWarning:
    """The warning that a chosen recipient cannot see any of the incident's students."""
    return DecisionWarning(
        "recipient_cannot_see_students",
        f"{user.name} <{user.email}> will be alerted but cannot see any of the incident's "
        f"students: they are restricted to students in {', '.join(restricted_to)}.",
        user=user.id,
    )


def recipient_warning(
    code: str, user: User, restricted_to: Sequence[str] | None
) -> DecisionWarning:
    """The warning ``code`` (from :func:`.rules.recipient_warnings`) about ``user``."""
    if code == "recipient_cannot_see_students":
        return cannot_see_warning(user, restricted_to or ())
    return cannot_open_warning(user)


def unknown_group_warning(group: str, similar: str | None, declared: bool) -> DecisionWarning:
    """The warning that a student group of the incident is not one the policy knows."""
    known = "declared in the policy" if declared else "named by any rule"
    message = f"Student group {group!r} is not {known}"
    if similar is not None:
        message += (
            f"; it differs from {similar!r} only by case, spaces or look-alike characters, "
            f"so alerts for {similar!r} did not apply to it. Correct the group in the MIS"
        )
    return DecisionWarning(
        "unknown_student_group", message + ".", student_group=group, similar_to=similar
    )


def nobody_alerted_warning() -> DecisionWarning:
    """The warning that an accepted incident alerts nobody at all."""
    return DecisionWarning("nobody_alerted", "Nobody will be alerted about this incident.")


def explain_decision(decision: Decision) -> str:
    """The decision as plain English: outcome, each recipient and why, withheld, warnings."""
    lines = [_headline(decision), f"Policy revision: {decision.policy_revision}"]
    if decision.recipients:
        lines.append(f"Alerted ({len(decision.recipients)}):")
        lines += [f"  - {_recipient_line(r)}" for r in decision.recipients]
    elif decision.accepted:
        lines.append("Alerted: nobody.")
    if decision.withheld:
        lines.append(f"Not alerted ({len(decision.withheld)}):")
        lines += [f"  - {w.message()}" for w in decision.withheld]
    if decision.warnings:
        lines.append(f"Warnings ({len(decision.warnings)}):")
        lines += [f"  - {w.message}" for w in decision.warnings]
    return "\n".join(lines)


def _headline(decision: Decision) -> str:
    rejection = decision.rejection
    if decision.accepted or rejection is None:
        return f"Incident {decision.incident}: accepted."
    return f"Incident {decision.incident}: REJECTED ({rejection.code}). {rejection.message}"


def _recipient_line(recipient: Recipient) -> str:
    reasons = "; ".join(_reason_words(reason) for reason in recipient.reasons)
    sees = ""
    if recipient.sees_students is not None:
        seen = ", ".join(recipient.sees_students) or "none of them"
        sees = f"; restricted to some student groups, sees: {seen}"
    return (
        f"{recipient.name} <{recipient.email}> ({ACCESS_WORDS[recipient.access]}{sees}): {reasons}"
    )


def _reason_words(reason: Reason) -> str:
    if reason.source == "user":
        return "you chose them by name"
    if reason.source == "alert_group":
        return f"member of alert group {reason.alert_group} you chose"
    matched = ", ".join(f"{KIND_WORDS.get(kind, kind)} {value}" for kind, value in reason.matched)
    if reason.via_parent is not None:
        matched += f", a sub-category of {reason.via_parent}"
    return f"automatic alert {reason.rule} ({matched})"
