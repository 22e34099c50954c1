"""The durable-rules matcher: every touch of durable-rules is in this module.

A revision's trigger keys (``"category:Bullying"``, ``"student:S1001"`` ...) are loaded as
*subscription* facts into one fixed, tiny ruleset (one join rule, the same for every
policy) and one long-lived session.  To match an incident, one *incident trigger* fact
per key of the incident is asserted; the join on the key (indexed, equality only) hands
every matching subscription to one synchronous action; the incident facts are then
retracted.  See ``shared/durable-rules.md`` for the measured facts behind each choice:

- no ``Host``: :class:`durable.engine.Ruleset` is driven directly with a minimal host, and
  actions run synchronously with ``Ruleset.do_actions`` after each assert;
- not thread-safe: every call for a revision happens under that revision's lock;
- a fact's identity is a 32-bit FNV-1a hash of its id, never compared: every fact id of a
  revision is assigned here and re-salted until its hash is unique;
- a new session must run one action before ``delete_state`` may free it (a probe match);
- its Python layer reports failures through the ``durable`` logger (and could print):
  both are captured around every call and become part of the :class:`EngineError`.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, TextIO

import durable_rules_engine
from durable.engine import Ruleset

from alertpolicy.engine.errors import EngineError, PolicyClosedError

SESSION = "0"
"""The one durable session of a revision (``delete_state(None)`` frees exactly this one)."""
STATE_FACT_ID = f"sid-{SESSION}"
"""The id durable gives the session's own state message; it shares the fact id space."""
LOAD_CHUNK = 1000
"""Facts per ``assert_facts`` call while loading, so a reload never holds the GIL for long."""
MATCH_CAP = 1000
"""Matches handed to one Python action call."""
PROBE_KEY = "probe:alertpolicy"
"""Key of the self-test subscription (no incident trigger key looks like it)."""
PROBE = -1
"""Number of the self-test subscription."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 16777619
_ruleset_serial = itertools.count(1)
_serial_lock = threading.Lock()


@lru_cache(maxsize=1 << 17)
def fact_hash(fact_id: str) -> int:
    """The 32-bit hash durable-rules files a fact under, computed as its C core does.

    FNV-1a over the bytes of the id as JSON-encoded by durable (``ensure_ascii=False``,
    quotes stripped), each byte sign-extended like a C ``char``.
    """
    value = _FNV_OFFSET
    for byte in json.dumps(fact_id, ensure_ascii=False)[1:-1].encode("utf-8"):
        value ^= byte | 0xFFFFFF00 if byte >= 0x80 else byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def unique_fact_ids(base_ids: Iterable[str], taken: set[int]) -> list[str]:
    """``base_ids`` made hash-unique against ``taken`` (updated in place), order kept.

    An id whose hash is already taken gets ``#1``, ``#2``, ... appended until it is free.
    """
    out: list[str] = []
    for base in base_ids:
        candidate, salt = base, 0
        digest = fact_hash(candidate)
        while digest in taken:
            salt += 1
            candidate = f"{base}#{salt}"
            digest = fact_hash(candidate)
        taken.add(digest)
        out.append(candidate)
    return out


class _Said(logging.Handler):
    """Collects what durable-rules' Python layer logs (in the calling thread) while an
    :class:`_Output` is open there, instead of letting it reach a stream."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(self.local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())


_said = _Said()
_durable_log = logging.getLogger("durable")
_durable_log.addHandler(_said)
_durable_log.propagate = False


class _Output:
    """What durable-rules says during one call: its log records (the ``durable`` logger)
    and whatever it prints to stdout, both kept out of the real streams."""

    __slots__ = ("lines", "printed", "stdout")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.printed = io.StringIO()
        self.stdout: TextIO | None = None

    def __enter__(self) -> _Output:
        _said.local.lines = self.lines
        self.stdout, sys.stdout = sys.stdout, self.printed
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stdout is not None:
            sys.stdout = self.stdout
        _said.local.lines = None

    def text(self) -> str:
        """Everything said, on one line."""
        return " ".join([*self.lines, self.printed.getvalue().strip()]).strip()


class _Matches:
    """Where the ruleset's action records the subscriptions one match found.

    Kept apart from :class:`DurableMatcher` so that durable-rules' reference to the action
    does not make the matcher part of a reference cycle.
    """

    def __init__(self) -> None:
        self.found: list[int] = []
        self.error: BaseException | None = None

    def reset(self) -> None:
        """Forget the previous match."""
        self.found, self.error = [], None

    def collect(self, closure: Any) -> None:
        """The ruleset's action: record the number of every matched subscription.

        ``closure.m`` is the list of matched frames durable hands a ``cap`` action.  They
        are dropped once read: durable-rules keeps each action's closure in a reference
        cycle (``Promise.run`` defines a ``timeout`` function that refers to itself), so
        whatever it holds lives until the cyclic collector runs, and the frames of a
        large incident are hundreds of objects that would make the collector run in the
        middle of later decisions.  Nothing of durable-rules reads them after the action.
        """
        try:
            frames = closure.m
            for frame in frames:
                self.found.append(int(frame["subscription"]["n"]))
            frames.clear()
        except BaseException as error:  # durable would swallow it into the session state
            self.error = error


class _Host:
    """The minimal host ``durable.engine.Ruleset`` needs: actions are given as callables."""

    def get_action(self, action_name: str) -> Callable[..., Any]:
        """Named actions are never used; asking for one is a programming error."""
        raise EngineError(f"durable-rules asked for unknown action {action_name!r}")


class DurableMatcher:
    """Trigger keys loaded into a durable-rules ruleset: which of them an incident matches.

    Thread-safe (one lock per matcher). After a failure inside durable-rules the matcher
    is unusable: it raises :class:`EngineError` rather than ever answering short.
    """

    def __init__(self, name: str, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        self._loaded = frozenset(self.keys) | {PROBE_KEY}
        self._lock = threading.Lock()
        self._closed = False
        self._broken: str | None = None
        self._session_ready = False
        self._matches = _Matches()
        taken = {fact_hash(STATE_FACT_ID)}
        [self._probe_fact_id] = unique_fact_ids(["sub:probe"], taken)
        self.fact_ids = unique_fact_ids((f"trigger:{key}" for key in self.keys), taken)
        """The fact id of each key (hash-unique across the revision)."""
        self._taken_hashes = taken
        self._incident_fact_ids: list[str] = []
        self._said = ""
        """What durable-rules logged or printed during the last actions it ran."""
        with _serial_lock:
            serial = next(_ruleset_serial)
        self.label = name
        """The revision the matcher serves, as errors name it."""
        self.name = f"alertpolicy-{serial}-{name}"
        self._ruleset = self._call(
            "create the ruleset", Ruleset, self.name, _Host(), _ruleset_definition(self)
        )
        try:
            self._open_session()
            self._load()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ loading

    def _open_session(self) -> None:
        """Create the session and prove it works by matching a probe.

        durable-rules 2.0.28 leaves a new session's action context uninitialised until an
        action has run in it, and ``delete_state`` then frees garbage pointers (segfault).
        """
        probe = {"id": self._probe_fact_id, "sid": SESSION, "t": "subscription"}
        with self._lock:
            self._call("create the session", self._ruleset.assert_facts, [probe | _probe_fields()])
            found = self._match([PROBE_KEY])
            self._session_ready = True
        if found != [PROBE]:
            raise EngineError(f"durable-rules failed its self-test: found {found}, not [{PROBE}]")

    def _load(self) -> None:
        facts = [
            {"id": fact_id, "sid": SESSION, "t": "subscription", "key": key, "n": str(number)}
            for number, (key, fact_id) in enumerate(zip(self.keys, self.fact_ids, strict=True))
        ]
        for start in range(0, len(facts), LOAD_CHUNK):
            with self._lock:
                chunk = facts[start : start + LOAD_CHUNK]
                self._call("load the policy", self._ruleset.assert_facts, chunk)

    def _call(self, what: str, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)``, a call into durable-rules' C core: its failures as EngineError."""
        try:
            return func(*args)
        except Exception as error:
            detail = getattr(error, "message", None) or str(error) or type(error).__name__
            raise EngineError(f"durable-rules failed to {what}: {detail}") from error

    def _run(self, what: str, func: Callable[..., Any], *args: Any) -> Any:
        """Like :meth:`_call`, for a call that runs durable-rules' Python layer (actions):
        what it logs or prints is captured, and becomes part of the EngineError."""
        with _Output() as output:
            try:
                return func(*args)
            except Exception as error:
                detail = getattr(error, "message", None) or str(error) or type(error).__name__
                said = output.text()
                raise EngineError(
                    f"durable-rules failed to {what}: {detail}" + (f" ({said})" if said else "")
                ) from error
            finally:
                if output.text():
                    self._said = output.text()

    # ------------------------------------------------------------------ matching

    def match(self, keys: Iterable[str]) -> list[int]:
        """The positions in :attr:`keys` of the loaded keys among ``keys``, sorted.

        Raises :class:`PolicyClosedError` after :meth:`close`, :class:`EngineError` when
        durable-rules fails (the matcher is unusable from then on).
        """
        with self._lock:
            if self._closed:
                raise PolicyClosedError(f"policy revision {self.label} was closed")
            if self._broken:
                raise EngineError(f"policy revision {self.label} is unusable: {self._broken}")
            try:
                found = self._match(keys)
                if found and not 0 <= found[0] <= found[-1] < len(self.keys):
                    raise EngineError(f"durable-rules returned unknown triggers {found}")
            except BaseException:
                self._broken = "an earlier evaluation failed inside durable-rules"
                raise
        return found

    def _incident_ids(self, count: int) -> list[str]:
        while len(self._incident_fact_ids) < count:
            number = len(self._incident_fact_ids)
            self._incident_fact_ids += unique_fact_ids([f"incident:{number}"], self._taken_hashes)
        return self._incident_fact_ids[:count]

    def _match(self, keys: Iterable[str]) -> list[int]:
        """Numbers of the subscriptions matching ``keys``, sorted; caller holds the lock.

        Only keys some subscription has are asserted: a key no subscription has can join
        nothing, and asserting it would cost as much as one that matches (an incident's
        students are mostly in groups no rule names).
        """
        unique = sorted(self._loaded.intersection(keys))
        facts = [
            {"id": fact_id, "sid": SESSION, "t": "incident_trigger", "key": key}
            for fact_id, key in zip(self._incident_ids(len(unique)), unique, strict=True)
        ]
        self._matches.reset()
        if facts:
            try:
                state = self._call("assert the incident", self._ruleset.assert_facts, facts)
                outcome: list[BaseException | None] = []
                self._said = ""
                self._run("run the actions", self._ruleset.do_actions, state, _first(outcome))
                said = f" ({self._said})" if self._said else ""
                if not outcome:
                    raise EngineError(f"durable-rules did not finish the incident's actions{said}")
                if outcome[0] is not None:
                    error = outcome[0]
                    raise EngineError(f"durable-rules action failed: {error}{said}") from error
                if self._matches.error is not None:
                    raise EngineError("collecting matches failed") from self._matches.error
            finally:
                self._call("retract the incident", self._ruleset.retract_facts, facts)
        return sorted(set(self._matches.found))

    # ------------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Free the ruleset and every fact. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ruleset = getattr(self, "_ruleset", None)
            if ruleset is None:
                return
            try:
                if self._session_ready:
                    self._call("free the session", ruleset.delete_state, None)
            finally:
                # Ruleset has no public way to delete itself: its C handle (``_handle``,
                # private) is what durable_rules_engine.delete_ruleset takes.
                self._call("free the ruleset", durable_rules_engine.delete_ruleset, ruleset._handle)

    def __enter__(self) -> DurableMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _probe_fields() -> dict[str, str]:
    """The key and number fields of the probe subscription."""
    return {"key": PROBE_KEY, "n": str(PROBE)}


def _first(outcome: list[BaseException | None]) -> Callable[[BaseException | None, Any], None]:
    """The completion callback of ``do_actions``: keep the first error (or ``None``)."""
    return lambda error, _state: outcome.append(error)


def _ruleset_definition(matcher: DurableMatcher) -> dict[str, Any]:
    """The fixed ruleset: incident trigger joined to subscriptions on the trigger key."""
    return {
        "subscription_matches": {
            "all": [
                {"incident": {"t": "incident_trigger"}},
                {"subscription": {"$and": [{"t": "subscription"}, {"key": {"incident": "key"}}]}},
            ],
            "cap": MATCH_CAP,
            "run": matcher._matches.collect,
        }
    }
