"""Time as the service shows it: UTC, to the millisecond, ISO 8601 with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time in UTC, to the millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with a ``Z`` (``2026-01-31T09:30:00.123Z``)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
