"""The page templates (package data, autoescaped) and rendering one page with them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from alertpolicy.engine.audit.diffmodel import PolicyDiff
from alertpolicy.engine.audit.diffview import diff_view
from alertpolicy.engine.audit.pages.links import Links


@cache
def environment() -> Environment:
    """The templates in ``engine/audit/pages/templates``: HTML escaped, a missing value
    an error (never an empty cell)."""
    return Environment(
        loader=PackageLoader("alertpolicy.engine.audit.pages", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(
    template: str,
    *,
    title: str,
    revision: str,
    links: Links | None,
    source: str = "",
    notices: Sequence[str] = (),
    **context: Any,
) -> str:
    """One page: ``template`` with the revision it describes, its links and notices."""
    return (
        environment()
        .get_template(template)
        .render(
            title=title,
            revision=revision,
            source=source,
            links=links,
            notices=list(notices),
            **context,
        )
    )


def diff_page(diff: PolicyDiff) -> str:
    """A policy diff as one self-contained page (styles inline; no link, script, font or
    image from anywhere else), for a pull request's artifacts."""
    view = diff_view(diff)
    return render(
        "diff.html",
        title=f"Alert policy diff: {diff.base[0]} → {diff.head[0]}",
        revision=f"{diff.base[1]} → {diff.head[1]}",
        links=None,
        view=view,
    )
