"""How the coordinator's state is reported: ``GET /v1/policy``, and one log line a reload."""

from __future__ import annotations

import logging
from typing import Any

from alertpolicy.engine.serve.clock import iso
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision
from alertpolicy.engine.serve.settings import ServeSettings

log = logging.getLogger("alertpolicy.reload")


def guard_status(settings: ServeSettings) -> dict[str, Any]:
    """The coverage guard's settings, as ``GET /v1/policy`` shows them."""
    return {
        "enabled": settings.max_route_loss is not None,
        "max_route_loss": settings.max_route_loss,
        "state_dir": str(settings.state_dir) if settings.state_dir else None,
    }


def policy_status(
    coordinator: Coordinator, guard: dict[str, Any], decision_log: dict[str, Any] | None
) -> dict[str, Any]:
    """``GET /v1/policy``: the revision serving, whether it can decide (and if not, why),
    the last reload, the held revision, the guard's settings and the decision log."""
    serving = coordinator.current
    not_ready = coordinator.serving.not_ready
    last, held = coordinator.last_reload, coordinator.held
    out: dict[str, Any] = {
        "revision": None,
        "git": None,
        "files": [],
        "counts": None,
        "loaded_at": None,
        "ready": not_ready is None,
        "not_ready": not_ready,
        "last_reload": last.to_json() if last else None,
        "held": held.to_json() if held else None,
        "coverage_guard": guard,
        "decision_log": decision_log,
    }
    if serving is not None:
        out.update(
            revision=serving.revision,
            git=serving.git,
            files=[{"path": f.path, "sha256": f.sha256} for f in serving.policy.files],
            counts=serving.counts(),
            loaded_at=iso(serving.loaded_at),
        )
    return out


def log_outcome(outcome: ReloadOutcome, serving: Revision | None, school: str = "") -> None:
    """Coordinator subscriber: one log line for each reload that did something (of
    ``school``, when one service serves many)."""
    of = f" of school {school}" if school else ""
    if not outcome.ok:
        problems = " | ".join(p.render() for p in outcome.errors)
        still = f"still serving {outcome.revision}" if outcome.revision else "nothing serving"
        count = len(outcome.errors)
        log.warning(
            "policy reload%s failed (%s; %d errors; %s): %s",
            of,
            outcome.how,
            count,
            still,
            problems,
        )
    elif outcome.held is not None and outcome.newly_held:
        held = outcome.held
        accept = f"/-/schools/{school}/reload" if school else "/-/reload"
        log.warning(
            "policy revision %s%s held by the coverage guard (still serving %s): %s; to serve "
            'it anyway: POST %s {"accept": "%s"}',
            held.revision,
            of,
            outcome.revision,
            held.summary(),
            accept,
            held.revision,
        )
    elif outcome.changed or outcome.how in ("accept", "rebuild", "start"):
        log.info("policy%s reloaded (%s): now serving %s", of, outcome.how, outcome.revision)
