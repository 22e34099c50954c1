"""Student group names (SPEC 7.4): which groups a revision knows, and near misses.

A near miss is a group that differs from a known one only by case, spaces or Unicode
look-alike characters (``"Year 9 "``, a no-break space, a Cyrillic e, U+0435): the two compare
equal by :func:`group_key`.  Look-alikes are Unicode's confusables (TR39), as published by
the ``confusable-homoglyphs`` package.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from confusable_homoglyphs import confusables

from alertpolicy.engine.model import Policy

_INVISIBLE = {"Cf", "Cc"}


@lru_cache(maxsize=8192)
def group_key(name: str) -> str:
    """``name`` as compared for near misses: look-alike characters read as the Latin ones
    they imitate, compatibility forms folded (NFKC), case folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", name)
    if not text.isascii():
        text = "".join(_latin(c) for c in text if unicodedata.category(c) not in _INVISIBLE)
    return " ".join(text.casefold().split())


@lru_cache(maxsize=8192)
def _latin(char: str) -> str:
    """``char``, or the ASCII character it is a look-alike of (Unicode confusables)."""
    if char.isascii() or char.isspace():
        return char
    for found in confusables.is_confusable(char, greedy=True, preferred_aliases=[]) or ():
        for glyph in found["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isprintable():
                return str(glyph["c"])
    return char


class GroupNames:
    """The student groups a revision knows: those it declares (7.4), or else those its
    rules and class restrictions name; with each name's near-miss key."""

    def __init__(self, policy: Policy) -> None:
        declared = policy.student_groups
        self.declared = declared is not None
        if declared is not None:
            known = set(declared)
        else:
            known = {g for rule in policy.automatic_alerts for g in rule.when.student_groups}
            for user in policy.users.values():
                known.update(user.restricted_to or ())
            for group in policy.user_groups.values():
                known.update(group.restricted_to or ())
        self.known = frozenset(known)
        self._by_key: dict[str, str] = {}
        for name in sorted(known, reverse=True):
            self._by_key[group_key(name)] = name

    def unknown(self, groups: Iterable[str]) -> list[tuple[str, str | None]]:
        """Each of ``groups`` to warn about, sorted, with the known group it differs from
        only by case, spaces or look-alikes (if any). With declared groups every undeclared
        one is warned about; without, only near misses."""
        out = []
        for group in frozenset(groups) - self.known:
            similar = self._by_key.get(group_key(group))
            if similar is not None or self.declared:
                out.append((group, similar))
        out.sort()
        return out
