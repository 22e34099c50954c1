"""Where the web view's pages link to: served under ``/ui/``, or exported as files.

Every link is relative to the page it is on, so that the served pages work behind a
proxy that mounts them under another path, and the exported files work when opened from
disk (``file://``).  Served, a category's page is ``categories/<name>`` and an alert
group's answer is the ``who`` page; exported, each is a file named after it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}")
WHO_PARAMETERS = ("category", "student", "student_group", "alert_group")
"""The ``who`` page's query parameters, as ``alertpolicy who`` names its options."""


def file_name(name: str) -> str:
    """A file name for ``name`` (a user id, category, alert group): itself when it is
    plain, else a plain form of it with a short hash that keeps different names apart."""
    if SAFE_NAME.fullmatch(name) and name not in {".", ".."}:
        return name
    plain = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60] or "name"
    return f"{plain}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


class Links:
    """The links of one page: ``static`` (exported files) or served, ``depth`` folders
    below the root of the view."""

    def __init__(self, *, static: bool, depth: int = 0) -> None:
        self.static = static
        self.root = "../" * depth

    def deeper(self) -> Links:
        """The links of a page one folder down (a user's, a category's)."""
        return Links(static=self.static, depth=self.root.count("../") + 1)

    def home(self) -> str:
        """The alert map."""
        return self.root + "index.html" if self.static else self.root or "./"

    def people(self) -> str:
        """Everyone in the policy."""
        return self.root + ("people.html" if self.static else "people")

    def user(self, user_id: str) -> str:
        """A user's profile."""
        if self.static:
            return f"{self.root}users/{quote(file_name(user_id))}.html"
        return f"{self.root}users/{quote(user_id, safe='')}"

    def category(self, category: str) -> str:
        """A category's page: who it alerts, and who else depending on the student."""
        if self.static:
            return f"{self.root}categories/{quote(file_name(category))}.html"
        return f"{self.root}categories/{quote(category, safe='')}"

    def alert_group(self, alert_group: str) -> str:
        """Who choosing ``alert_group`` alerts."""
        if self.static:
            return f"{self.root}alert-groups/{quote(file_name(alert_group))}.html"
        return self.who({"alert_group": [alert_group]}) or ""

    def who(self, query: Mapping[str, Iterable[str]]) -> str | None:
        """The ``who`` page for ``query`` (served only: exported pages cannot ask)."""
        if self.static:
            return None
        pairs = [(key, value) for key in WHO_PARAMETERS for value in query.get(key, ())]
        return f"{self.root}who" + (f"?{urlencode(pairs)}" if pairs else "")

    def who_form(self) -> str | None:
        """Where the ``who`` form is sent (served only)."""
        return None if self.static else f"{self.root}who"
