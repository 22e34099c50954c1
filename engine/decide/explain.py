"""Decisions in plain English, and the wording of every rejection and warning.

Both evaluators (the engine and the reference) take their rejection and warning texts from
here, so the same situation always reads the same way.
"""

from __future__ import annotations

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
    """The warning that a chosen recipient will be alerted but cannot open the incident."""
    return DecisionWarning(
        "recipient_cannot_open",
        f"{user.name} <{user.email}> will be alerted but cannot open the incident: their "
        "user group lacks view_incidents on its categories or the student system permissions.",
        user=user.id,
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
    return f"{recipient.name} <{recipient.email}> ({ACCESS_WORDS[recipient.access]}): {reasons}"


def _reason_words(reason: Reason) -> str:
    if reason.source == "user":
        return "you chose them by name"
    if reason.source == "alert_group":
        return f"member of alert group {reason.alert_group} you chose"
    matched = ", ".join(f"{KIND_WORDS.get(kind, kind)} {value}" for kind, value in reason.matched)
    return f"automatic alert {reason.rule} ({matched})"
