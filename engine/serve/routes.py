"""The HTTP routes: decisions, the policy's state, probes, metrics, reloads, the API doc.

Bad input is answered 400/413/415/422 with ``{"errors": [problem, ...]}`` (one problem
shape, :meth:`~alertpolicy.engine.errors.Problem.to_json`), never a 500; a decision that
cannot be made now is 503, never a shorter list of recipients.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alertpolicy.engine.check.incident import check_limits, decode_incident
from alertpolicy.engine.errors import IncidentError, NotHeld, NotReady, RequestRejected
from alertpolicy.engine.serve.httpio import (
    check_content_type,
    errors_response,
    problem_response,
    read_body,
)

if TYPE_CHECKING:
    from alertpolicy.engine.serve.app import Service
    from alertpolicy.engine.serve.coordinator import Coordinator
    from alertpolicy.engine.serve.metrics import ServeMetrics

log = logging.getLogger("alertpolicy.serve")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where worker processes keep their metrics for ``/metrics`` to add up (prometheus-client)."""
RELOAD_BODY_LIMIT = 4096
"""Largest ``POST /-/reload`` body accepted (it holds at most a revision to accept)."""


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def post_decision(request: Request) -> Response:
    """``POST /v1/decisions``: the decision for the incident in the body."""
    service = _service(request)
    return await decision_response(request, service.metrics, (), service.decide)


async def decision_response(
    request: Request,
    metrics: ServeMetrics,
    labels: tuple[str, ...],
    decide: Callable[[object], tuple[bytes, str, str]],
) -> Response:
    """The answer to a decision request: ``decide`` the incident in the body, counting the
    outcome in ``metrics`` (with ``labels`` first: a school)."""
    started = time.perf_counter()
    max_body = request.app.state.service.settings.max_body_bytes
    try:
        check_content_type(request)
        raw = decode_incident(await read_body(request, max_body))
        check_limits(raw)
        # On the event loop, not a thread pool: a decision is a bounded fraction of a
        # millisecond of work that holds the interpreter lock anyway, and each hand-off to
        # a pool thread waits for that lock (behind a reload's compile, ~5 ms each).
        body, incident_id, code = decide(raw)
    except RequestRejected as error:
        metrics.decisions.labels(*labels, "invalid", error.code).inc()
        return errors_response(error.status, error.problems)
    except IncidentError as error:
        metrics.decisions.labels(*labels, "invalid", "invalid_incident").inc()
        return errors_response(422, error.problems)
    except NotReady as error:
        metrics.decisions.labels(*labels, "unavailable", "not_ready").inc()
        return problem_response(503, "not-ready", str(error), {"Retry-After": "1"})
    elapsed = time.perf_counter() - started
    metrics.latency.observe(elapsed)
    metrics.decisions.labels(*labels, "rejected" if code else "accepted", code).inc()
    log.info(
        "decision%s incident=%s outcome=%s latency_ms=%.1f",
        f" school={labels[0]}" if labels else "",
        incident_id,
        code or "accepted",
        elapsed * 1000,
    )
    return Response(body, media_type="application/json")


async def get_policy(request: Request) -> Response:
    """``GET /v1/policy``: the revision serving, the last reload, what is held, and why
    nothing can decide (when that is so)."""
    return JSONResponse(_service(request).status())


async def post_reload(request: Request) -> Response:
    """``POST /-/reload``: rebuild from the files now (200, or 422 with the errors); with
    ``{"accept": "<held revision>"}``, serve the held revision (409 if another is held)."""
    service = _service(request)
    accepted = await accept_response(request, service.coordinator)
    if accepted is not None:
        return accepted
    outcome = await run_in_threadpool(service.reload, True)
    return JSONResponse(outcome.to_json(), status_code=200 if outcome.ok else 422)


async def accept_response(request: Request, coordinator: Coordinator) -> Response | None:
    """The answer to a reload request whose body accepts a held revision of
    ``coordinator`` (or is not a reload request's body); ``None`` for a plain reload."""
    accept = await accepted_revision(request)
    if isinstance(accept, Response):
        return accept
    if accept is None:
        return None
    try:
        outcome = await run_in_threadpool(coordinator.accept, accept)
    except NotHeld as error:
        return problem_response(409, "not-held", str(error))
    return JSONResponse(outcome.to_json())


async def accepted_revision(request: Request) -> str | Response | None:
    """The ``accept`` of a reload request's body; ``None`` without a body; a 4xx response
    when the body is not ``{"accept": "<revision>"}``."""
    try:
        body = await read_body(request, RELOAD_BODY_LIMIT)
        if not body.strip():
            return None
        data: Any = decode_incident(body)
    except RequestRejected as error:
        return errors_response(error.status, error.problems)
    if not isinstance(data, dict) or set(data) != {"accept"} or not isinstance(data["accept"], str):
        message = 'the body must be {"accept": "<the held revision>"}, or empty to reload'
        return problem_response(422, "bad-reload-request", message)
    return str(data["accept"])


async def healthz(request: Request) -> Response:
    """``GET /healthz``: 200 while the process lives."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: 200 while a revision can decide (in every worker); 503, saying why,
    while none can."""
    coordinator = _service(request).coordinator
    why = request.app.state.readiness.why_not_ready()
    current = coordinator.current
    revision = current.revision if current else None
    if why is not None:
        body = {"status": "not ready", "revision": revision, "reason": why}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "revision": revision, "reason": None})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format; with several workers, all of them."""
    registry: CollectorRegistry = request.app.state.service.registry
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the API description, its schemas bundled in."""
    return JSONResponse(request.app.state.openapi)


ROUTES = [
    Route("/v1/decisions", post_decision, methods=["POST"]),
    Route("/v1/policy", get_policy, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/-/reload", post_reload, methods=["POST"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
ROUTE_PATHS = frozenset({*(route.path for route in ROUTES), "/v1/schools"})
