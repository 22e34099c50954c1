"""One policy revision's web view: its pages on demand, and all of them as files.

:class:`PolicyPages` answers each page of the view for one revision (the alert map, a
category, a user, the ``who`` page), or an error page naming the value that is not in
the policy (4xx, never a failure).  It keeps what is costly to compute (the alert map,
the lint warnings, the rendered alert map) for as long as the revision serves.
:func:`export_site` writes the alert map, every category's, user's and alert group's page
as static files that link to each other relatively, so that they open from disk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alertpolicy.engine.audit.alertmap import AlertMap
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.pages.links import WHO_PARAMETERS, Links, file_name
from alertpolicy.engine.audit.pages.render import render
from alertpolicy.engine.audit.pages.views import (
    QUERY_KEYS,
    category_context,
    map_context,
    people_context,
    user_context,
    who_context,
)
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.model import Policy

MAX_VALUES = 20
"""How many values one ``who`` parameter may take."""
MAX_LENGTH = 200
"""The longest value a ``who`` parameter may take."""


@dataclass(frozen=True)
class Page:
    """A rendered page and its HTTP status (200, or 4xx for a question it cannot answer)."""

    status: int
    html: str


class PolicyPages:
    """The web view of one policy revision (see the module docstring).

    ``source`` says where the revision was read from (shown on every page).
    """

    def __init__(self, policy: Policy, source: str = "") -> None:
        self.policy = policy
        self.source = source
        self.amap = AlertMap(policy)
        self.atoms = AtomicMap(self.amap)
        self._lock = threading.Lock()
        self._homes: dict[tuple[bool, str, tuple[str, ...]], str] = {}

    def _page(
        self, template: str, title: str, links: Links, notices: Sequence[str], **context: object
    ) -> str:
        return render(
            template,
            title=title,
            revision=self.policy.revision,
            links=links,
            source=self.source,
            notices=notices,
            **context,
        )

    def error(self, status: int, message: str, links: Links, notices: Sequence[str] = ()) -> Page:
        """An error page saying what could not be answered, and why."""
        title = "Not found" if status == 404 else "Cannot answer that"
        return Page(status, self._page("error.html", title, links, notices, message=message))

    def home(self, links: Links, notices: Sequence[str] = ()) -> Page:
        """The alert map (rendered once per kind of link and notices, then kept)."""
        key = (links.static, links.root, tuple(notices))
        with self._lock:
            html = self._homes.get(key)
            if html is None:
                context = map_context(self.amap, self.atoms, lint_policy(self.policy))
                html = self._page("map.html", "Alert map", links, notices, **context)
                self._homes[key] = html
        return Page(200, html)

    def people(self, links: Links, notices: Sequence[str] = ()) -> Page:
        """Everyone in the policy."""
        context = people_context(self.policy)
        return Page(200, self._page("people.html", "People", links, notices, **context))

    def category(self, name: str, links: Links, notices: Sequence[str] = ()) -> Page:
        """A category's page, or 404 naming a category the policy does not have."""
        if name not in self.policy.categories:
            return self.error(404, f"There is no category {name!r} in this policy.", links, notices)
        context = category_context(self.amap, self.atoms, name, links)
        return Page(200, self._page("category.html", f"Category {name}", links, notices, **context))

    def user(self, user_id: str, links: Links, notices: Sequence[str] = ()) -> Page:
        """A user's page, or 404 naming a user the policy does not have."""
        if user_id not in self.policy.users:
            message = f"There is no user {user_id!r} in this policy."
            return self.error(404, message, links, notices)
        person = self.policy.users[user_id]
        title = f"{person.name} ({user_id})"
        context = user_context(self.amap, user_id)
        return Page(200, self._page("user.html", title, links, notices, **context))

    def who(
        self, params: Iterable[tuple[str, str]], links: Links, notices: Sequence[str] = ()
    ) -> Page:
        """The ``who`` page for query parameters ``params`` (``category``, ``student``,
        ``student_group``, ``alert_group``, each repeatable); 400 naming a parameter or a
        category or alert group the policy does not have."""
        query: dict[str, list[str]] = {key: [] for key in QUERY_KEYS.values()}
        for name, value in params:
            if name not in QUERY_KEYS:
                known = ", ".join(WHO_PARAMETERS)
                message = f"Unknown question {name!r}: ask with {known}."
                return self.error(400, message, links, notices)
            value = value.strip()
            if len(value) > MAX_LENGTH:
                message = f"The {name} given is longer than {MAX_LENGTH} characters."
                return self.error(400, message, links, notices)
            if value and value not in query[QUERY_KEYS[name]]:
                query[QUERY_KEYS[name]].append(value)
        for name, key, known_names in (
            ("category", "categories", self.policy.categories),
            ("alert group", "alert_groups", self.policy.alert_groups),
        ):
            unknown = [v for v in query[key] if v not in known_names]
            if unknown:
                message = f"There is no {name} {unknown[0]!r} in this policy."
                return self.error(400, message, links, notices)
        if any(len(values) > MAX_VALUES for values in query.values()):
            message = f"Ask about at most {MAX_VALUES} of each kind at once."
            return self.error(400, message, links, notices)
        context = who_context(self.amap, query, links)
        title = f"Who is alerted: {context['asked']}" if context["asked"] else "Who is alerted?"
        return Page(200, self._page("who.html", title, links, notices, **context))

    def alert_group(self, name: str, links: Links) -> Page:
        """Who choosing alert group ``name`` alerts (the exported form of its ``who``)."""
        context = who_context(self.amap, {"alert_groups": [name]}, links)
        title = f"Who is alerted: alert group {name}"
        return Page(200, self._page("who.html", title, links, (), **context))


def export_site(policy: Policy, directory: Path, source: str = "") -> list[Path]:
    """Write the alert map, the list of people and every category's, user's and alert
    group's page under ``directory`` (``index.html``, ``people.html``, ``categories/``,
    ``users/``, ``alert-groups/``); the files written, in order."""
    pages = PolicyPages(policy, source)
    top = Links(static=True)
    below = top.deeper()
    wanted: list[tuple[Path, Page]] = [
        (Path("index.html"), pages.home(top)),
        (Path("people.html"), pages.people(top)),
    ]
    for name in policy.categories:
        wanted.append((Path("categories", f"{file_name(name)}.html"), pages.category(name, below)))
    for user_id in policy.users:
        wanted.append((Path("users", f"{file_name(user_id)}.html"), pages.user(user_id, below)))
    for name in policy.alert_groups:
        path = Path("alert-groups", f"{file_name(name)}.html")
        wanted.append((path, pages.alert_group(name, below)))
    written = []
    for relative, page in wanted:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.html, encoding="utf-8")
        written.append(target)
    return written
