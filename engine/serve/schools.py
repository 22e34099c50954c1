"""Many schools in one service: a registry of coordinators, one per school.

Each school of a folder of schools (``--policies``) has a coordinator of its own — its
own serving revision, coverage guard, kept revision in the state directory and engine
repair — so one school's broken edit, held revision or failed engine never touches
another's.  What the schools share is immutable or stateless: the revision builder
(and its cache, so that a revision is built once for every worker), the reload threads
and the watcher.

At start every school is read and built at once (:meth:`RevisionBuilder.prebuild`,
several in each reload child, in parallel), then each coordinator starts on its build;
a school whose policy is invalid at start is reported and serves nothing until it is
fixed, while every other school serves.  A school folder added later is found by
:meth:`SchoolRegistry.refresh`; a school folder removed keeps its last good revision
serving (its reloads fail, saying why) until the service restarts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from alertpolicy.engine.errors import PolicyError, ReloadWorkerFailed
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.coordinator import Coordinator, Subscriber
from alertpolicy.engine.serve.origin import Origin
from alertpolicy.engine.serve.repair import EngineRepair
from alertpolicy.engine.serve.state import AcceptedStore
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning

log = logging.getLogger("alertpolicy.schools")

Discover = Callable[[], tuple[tuple[str, ...], tuple[str, ...]]]
"""The schools there are now, and the folders that cannot be schools (their names)."""


@dataclass
class School:
    """One school served: its name, its coordinator and the repair of its engine."""

    name: str
    coordinator: Coordinator
    repair: EngineRepair


class SchoolRegistry:
    """The coordinators of every school (see the module docstring).

    ``origin_of`` gives where a school's revisions come from; ``subscribers`` the
    subscribers of a new school's coordinator (metrics, log, decision log ... labelled
    with its name); ``engine_down`` is told the school whose policy engine failed.
    """

    def __init__(
        self,
        discover: Discover,
        origin_of: Callable[[str], Origin],
        builder: RevisionBuilder,
        subscribers: Callable[[str], Sequence[Subscriber]],
        *,
        engine_down: Callable[[str], None],
        max_route_loss: float | None,
        state_dir: Path | None,
        tuning: HeapTuning = NO_TUNING,
    ) -> None:
        self.discover = discover
        self.origin_of = origin_of
        self.builder = builder
        self.subscribers = subscribers
        self.engine_down = engine_down
        self.max_route_loss = max_route_loss
        self.state_dir = state_dir
        self.tuning = tuning
        self.misnamed: tuple[str, ...] = ()
        """Folders that cannot be schools, because of their names."""
        self.started = False
        self._schools: dict[str, School] = {}
        self._lock = threading.Lock()
        self._adding = threading.Lock()
        self._closed = False
        self._loaded = 0
        self._accepted_stamps: dict[str, tuple[int, int, int] | None] = {}

    def names(self) -> tuple[str, ...]:
        """Every school served, sorted."""
        with self._lock:
            return tuple(sorted(self._schools))

    def get(self, name: str) -> School | None:
        """The school called ``name``, or ``None``."""
        return self._schools.get(name)

    def start(self) -> None:
        """Read, build and start every school there is (see the module docstring)."""
        with self._adding:
            names, self.misnamed = self.discover()
            self._add(names)
        for folder in self.misnamed:
            log.warning(
                "folder %r is not served: a school's folder name is letters, digits, '.', '_' "
                "and '-' (it is part of the school's URL)",
                folder,
            )
        self.started = True

    def refresh(self) -> tuple[str, ...]:
        """Start the schools added since the last look; their names."""
        with self._adding:
            names, self.misnamed = self.discover()
            new = tuple(name for name in names if name not in self._schools)
            if new:
                log.info("new schools found: %s", ", ".join(new))
                self._add(new)
        return new

    def accepted_changed(self) -> list[str]:
        """The schools whose kept revision in the state directory changed since the last
        call (another worker accepted a revision for them): only they need comparing."""
        changed = []
        for name in self.names():
            accepted = self._schools[name].coordinator.accepted
            stamp = accepted.stamp() if accepted is not None else None
            if self._accepted_stamps.get(name) != stamp:
                self._accepted_stamps[name] = stamp
                changed.append(name)
        return changed

    def reload(self, name: str, force: bool = False) -> None:
        """Reload one school's policy (unknown schools are looked for first)."""
        school = self._schools.get(name)
        if school is None:
            self.refresh()
            return
        school.coordinator.reload(force)

    def not_ready(self) -> str | None:
        """Why this service cannot decide for a school whose policy is valid, or ``None``.

        Schools without a valid policy do not count: no replica can decide for them, and
        taking this one out of a load balancer would not help them.
        """
        if self._closed:
            return "the service is shutting down"
        if not self.started:
            loaded, known = self._loaded, len(self._schools)
            return f"the schools' policies are being loaded ({loaded} of {known})"
        down = []
        for name in self.names():
            serving = self._schools[name].coordinator.serving
            if serving.current is not None and serving.not_ready is not None:
                down.append(name)
        if down:
            return f"the policy engine of {len(down)} school(s) failed and is being rebuilt: " + (
                ", ".join(down[:10])
            )
        return None

    def close(self) -> None:
        """Stop repairing and serving every school."""
        self._closed = True
        for name in self.names():
            school = self._schools[name]
            school.repair.stop()
            school.coordinator.close()

    def _add(self, names: Sequence[str]) -> None:
        """Create, build (all at once) and start the schools ``names``."""
        created = [self._create(name) for name in names]
        sources: dict[str, PolicySource] = {}
        for school in created:
            try:
                sources[school.name] = school.coordinator.origin.read()
            except PolicyError:
                continue  # reported when the school starts
        built = self.builder.prebuild(list(sources.values()), stopping=lambda: self._closed)
        log.info("built %d of %d schools' policies at once", built, len(sources))
        for school in created:
            if self._closed:
                return
            self._start(school, sources.pop(school.name, None))

    def _create(self, name: str) -> School:
        origin = self.origin_of(name)
        accepted = None
        if self.state_dir is not None:
            accepted = AcceptedStore(self.state_dir, origin.key, sync=False)
        coordinator = Coordinator(
            origin,
            self.builder,
            max_route_loss=self.max_route_loss,
            accepted=accepted,
            tuning=self.tuning,
        )
        for subscriber in self.subscribers(name):
            coordinator.subscribe(subscriber)
        repair = EngineRepair(coordinator, partial(self.engine_down, name), f" of school {name}")
        school = School(name, coordinator, repair)
        with self._lock:
            self._schools[name] = school
        return school

    def _start(self, school: School, source: PolicySource | None) -> None:
        try:
            school.coordinator.start(fall_back=True, source=source)
        except (PolicyError, ReloadWorkerFailed) as error:
            school.coordinator.failed_start(error)
        accepted = school.coordinator.accepted
        self._accepted_stamps[school.name] = accepted.stamp() if accepted is not None else None
        self._loaded += 1
