"""The HTTP service: decisions for submitted incidents, under a hot-reloaded policy.

``POST /v1/decisions`` takes an incident and answers with the decision of the revision
serving at that moment; ``GET /v1/policy`` describes that revision and the last reload;
``/healthz``, ``/readyz``, ``/metrics``, ``POST /-/reload`` and ``/openapi.json`` serve
operations.  Bad input is answered 400/413/415/422 with ``{"errors": [{field, value,
message}]}``, never a 500 and never a traceback.  Student ids, names and metadata never
reach a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import Histogram as PromHistogram
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

from alertpolicy.engine.check.incident import (
    InputRejected,
    check_limits,
    decode_incident,
    error_entry,
    parse_incident,
)
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import IncidentError, PolicyError
from alertpolicy.engine.serve.coordinator import (
    Coordinator,
    NoPolicyLoaded,
    PolicyWatcher,
    ReloadOutcome,
)
from alertpolicy.engine.serve.decisionlog import DecisionLog
from alertpolicy.engine.serve.openapi import openapi_document

log = logging.getLogger("alertpolicy.serve")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes that never need the bearer token (probes)."""
ROUTES = frozenset(
    {"/v1/decisions", "/v1/policy", "/healthz", "/readyz", "/metrics", "/-/reload", "/openapi.json"}
)
ENV_PREFIX = "ALERTPOLICY_SERVE_"
WORKER_START_SECONDS = 120
"""How long a worker may take to load a large policy before uvicorn gives up on it."""
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where worker processes keep their metrics for ``/metrics`` to add up (prometheus-client)."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class ServeSettings:
    """Everything one service process needs to know (shared with workers via env)."""

    policy_dir: Path
    token_file: Path | None = None
    decision_log: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    debounce_ms: int = 250
    log_level: str = "info"

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, for worker processes."""
        values = {
            "POLICY": str(self.policy_dir),
            "TOKEN_FILE": str(self.token_file or ""),
            "DECISION_LOG": str(self.decision_log or ""),
            "MAX_BODY_BYTES": str(self.max_body_bytes),
            "DEBOUNCE_MS": str(self.debounce_ms),
            "LOG_LEVEL": self.log_level,
        }
        return {ENV_PREFIX + key: value for key, value in values.items()}

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings a parent process put in the environment (see :meth:`to_env`)."""

        def get(key: str) -> str:
            return os.environ.get(ENV_PREFIX + key, "")

        return cls(
            policy_dir=Path(get("POLICY") or "policy"),
            token_file=Path(get("TOKEN_FILE")) if get("TOKEN_FILE") else None,
            decision_log=Path(get("DECISION_LOG")) if get("DECISION_LOG") else None,
            max_body_bytes=int(get("MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES),
            debounce_ms=int(get("DEBOUNCE_MS") or 250),
            log_level=get("LOG_LEVEL") or "info",
        )


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace ignored); ValueError if empty."""
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError(f"token file {path} is empty")
    return token


class ServeMetrics:
    """Prometheus metrics of decisions and HTTP requests, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "alertpolicy_decisions",
            "Incidents answered, by outcome (accepted, rejected, invalid) and code.",
            ["outcome", "code"],
            registry=registry,
        )
        self.latency = PromHistogram(
            "alertpolicy_decision_duration_seconds",
            "Time to answer POST /v1/decisions with a decision, body read to response.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "alertpolicy_http_requests",
            "HTTP requests, by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )


class Service:
    """One service process: settings, coordinator, watcher, metrics and decision log."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.metrics = ServeMetrics(self.registry)
        self.token = read_token(settings.token_file) if settings.token_file else None
        self.decision_log = DecisionLog(settings.decision_log) if settings.decision_log else None
        self.coordinator = Coordinator(settings.policy_dir, self.registry, self._reloaded)
        self.watcher: PolicyWatcher | None = None

    def _reloaded(self, outcome: ReloadOutcome) -> None:
        if self.decision_log is not None:
            self.decision_log.reload(outcome)

    def decide(self, raw: object) -> tuple[bytes, str, str]:
        """The decision for a parsed incident: JSON body, incident id and outcome code."""
        with self.coordinator.lease() as revision:
            try:
                incident = parse_incident(raw, revision.policy)
            except IncidentError as error:
                entries = [error_entry(p.field_name(), p.value, p.message) for p in error.problems]
                raise InputRejected(422, entries, "invalid_incident") from error
            decision = evaluate_incident(revision.compiled, incident)
        body = json.dumps(decision.to_json(), ensure_ascii=False, separators=(",", ":"))
        if self.decision_log is not None:
            self.decision_log.decision(decision, incident)
        code = decision.rejection.code if decision.rejection else ""
        return body.encode("utf-8"), decision.incident, code

    def close(self) -> None:
        """Stop watching, stop serving and close the decision log."""
        if self.watcher is not None:
            self.watcher.stop()
        self.coordinator.close()
        if self.decision_log is not None:
            self.decision_log.close()


def errors_response(status: int, entries: list[dict], headers: dict | None = None) -> Response:
    """``{"errors": [...]}`` with ``status``."""
    return JSONResponse({"errors": entries}, status_code=status, headers=headers)


# ------------------------------------------------------------------------ routes


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InputRejected(
                400, [error_entry("", declared, "bad Content-Length")], "bad_request"
            )
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> InputRejected:
    message = f"the request body is larger than the limit of {limit} bytes"
    return InputRejected(413, [error_entry("", None, message)], "too_large")


def check_content_type(request: Request) -> None:
    """Refuse (415) anything but JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        message = f"send the incident as application/json, not {media or 'no Content-Type'}"
        raise InputRejected(415, [error_entry("", None, message)], "unsupported_media_type")


async def post_decision(request: Request) -> Response:
    """``POST /v1/decisions``: the decision for the incident in the body."""
    service: Service = request.app.state.service
    started = time.perf_counter()
    incident_id = ""
    try:
        check_content_type(request)
        raw = decode_incident(await read_body(request, service.settings.max_body_bytes))
        check_limits(raw)
        # On the event loop, not a thread pool: a decision is a bounded fraction of a
        # millisecond of work that holds the interpreter lock anyway, and each hand-off to
        # a pool thread waits for that lock (behind a reload's compile, ~5 ms each).
        body, incident_id, code = service.decide(raw)
    except InputRejected as error:
        service.metrics.decisions.labels("invalid", error.code).inc()
        return errors_response(error.status, error.entries)
    except NoPolicyLoaded as error:
        service.metrics.decisions.labels("unavailable", "no_policy").inc()
        return errors_response(503, [error_entry("", None, str(error))])
    elapsed = time.perf_counter() - started
    service.metrics.latency.observe(elapsed)
    service.metrics.decisions.labels("rejected" if code else "accepted", code).inc()
    log.info(
        "decision incident=%s outcome=%s latency_ms=%.1f",
        incident_id,
        code or "accepted",
        elapsed * 1000,
    )
    return Response(body, media_type="application/json")


async def get_policy(request: Request) -> Response:
    """``GET /v1/policy``: the revision serving, its files and counts, the last reload."""
    return JSONResponse(request.app.state.service.coordinator.status())


async def post_reload(request: Request) -> Response:
    """``POST /-/reload``: reload now; 200 with the revision, or 422 with the errors."""
    service: Service = request.app.state.service
    try:
        outcome = await run_in_threadpool(service.coordinator.reload)
    except NoPolicyLoaded as error:
        return errors_response(503, [error_entry("", None, str(error))])
    return JSONResponse(outcome.to_json(), status_code=200 if outcome.ok else 422)


async def healthz(request: Request) -> Response:
    """``GET /healthz``: 200 while the process lives."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: 200 once a valid policy is serving, 503 before."""
    current = request.app.state.service.coordinator.current
    if current is None:
        return JSONResponse({"status": "not ready", "revision": None}, status_code=503)
    return JSONResponse({"status": "ready", "revision": current.revision})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format; with several workers, all of them."""
    registry = request.app.state.service.registry
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the API description, its schemas bundled in."""
    return JSONResponse(request.app.state.openapi)


# ------------------------------------------------------------------- middleware


class AccessMiddleware:
    """Bearer-token check, request metrics, and a bare 500 for a genuine bug."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in ROUTES else "other"
        status = {"code": 500, "started": False}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            denied = self._denied(scope)
            if denied is not None:
                await denied(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        except Exception as error:  # a bug: log where (not what: it may hold input), say 500
            log.error(
                "internal error answering %s %s: %s\n%s",
                scope["method"],
                route,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            if not status["started"]:
                message = "internal error: the request was not completed"
                await errors_response(500, [error_entry("", None, message)])(
                    scope, receive, send_status
                )
        finally:
            self.service.metrics.requests.labels(route, scope["method"], str(status["code"])).inc()

    def _denied(self, scope: Scope) -> Response | None:
        token = self.service.token
        if token is None or scope["path"] in OPEN_PATHS:
            return None
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credential = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), token.encode()):
            return None
        challenge = 'Bearer realm="alertpolicy"'
        if given:
            challenge += ', error="invalid_token"'
        message = "a valid bearer token is required (Authorization: Bearer <token>)"
        return errors_response(
            401, [error_entry("", None, message)], {"WWW-Authenticate": challenge}
        )


# ------------------------------------------------------------------------- app


def _install_sighup(service: Service) -> bool:
    """Reload on SIGHUP, when serving from the main thread (uvicorn leaves SIGHUP alone)."""
    if threading.current_thread() is not threading.main_thread() or service.watcher is None:
        return False
    watcher = service.watcher
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGHUP, lambda: watcher.request_reload(immediate=True)
    )
    return True


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Load the policy if not loaded yet (failing start-up if invalid), watch it, serve."""
    service: Service = app.state.service
    if service.coordinator.current is None:
        outcome = await run_in_threadpool(service.coordinator.reload)
        if not outcome.ok:
            problems = "\n".join(p.render() for p in outcome.errors)
            raise RuntimeError(f"the policy is invalid, not serving it:\n{problems}")
    service.watcher = PolicyWatcher(service.coordinator, service.settings.debounce_ms / 1000)
    service.watcher.start()
    sighup = _install_sighup(service)
    try:
        yield
    finally:
        if sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await run_in_threadpool(service.close)


def create_app(service: Service) -> Starlette:
    """The ASGI app serving ``service``."""
    app = Starlette(
        routes=[
            Route("/v1/decisions", post_decision, methods=["POST"]),
            Route("/v1/policy", get_policy, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/-/reload", post_reload, methods=["POST"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        middleware=[Middleware(AccessMiddleware, service=service)],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.openapi = openapi_document()
    return app


def configure_logging(level: str) -> None:
    """Send the service's own log lines to stderr at ``level``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def app_from_env() -> Starlette:
    """The app of one worker process, configured by :meth:`ServeSettings.to_env`.

    A SIGHUP before the worker serves is ignored (it is loading the files as they are);
    from then on it reloads the policy, as a single process does.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    settings = ServeSettings.from_env()
    configure_logging(settings.log_level)
    return create_app(Service(settings))


class Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, where SIGHUP reloads instead of restarting.

    uvicorn replaces every worker on SIGHUP; a retiring worker drops any connection it
    accepted the instant before it stopped listening.  Here each worker is sent SIGHUP
    and reloads its policy in place, keeping its connections, exactly as with one process.
    """

    def keep_subprocess_alive(self) -> None:
        """Replace workers that died, dropping their live gauges from ``/metrics``."""
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                prometheus_multiprocess.mark_process_dead(pid)

    def handle_hup(self) -> None:
        """Ask every worker to reload its policy now."""
        log.info("SIGHUP: asking %d workers to reload the policy", len(self.processes))
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)


class StartError(Exception):
    """The service cannot start (unreadable token file, decision log not writable...)."""


def _check_policy(settings: ServeSettings) -> None:
    """Load and compile the policy once, closing it again; PolicyError if it is invalid."""
    coordinator = Coordinator(settings.policy_dir)
    try:
        outcome = coordinator.reload()
    finally:
        coordinator.close()
    if not outcome.ok:
        raise PolicyError(outcome.errors)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for worker processes to share.

    Made with ``proto=IPPROTO_TCP`` (uvicorn's own leaves it 0), so that asyncio turns
    Nagle's algorithm off on each connection: without it every response waits ~40 ms
    for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise StartError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    sock.set_inheritable(True)
    return sock


def run(settings: ServeSettings, host: str, port: int, workers: int = 1) -> None:
    """Check the policy, then serve until interrupted (SIGINT/SIGTERM).

    Raises :class:`PolicyError` (invalid policy) or :class:`StartError` before binding.
    With several workers each has its own coordinator and watcher; SIGHUP to the main
    process makes every worker reload (see :class:`Workers`).
    """
    configure_logging(settings.log_level)
    try:
        service = Service(settings)
    except (OSError, ValueError) as error:
        raise StartError(str(error)) from error
    if workers > 1:
        service.close()
        _check_policy(settings)
        os.environ.update(settings.to_env())
        metrics_dir = tempfile.TemporaryDirectory(prefix="alertpolicy-metrics-")
        os.environ[MULTIPROCESS_ENV] = metrics_dir.name  # workers share their metrics there
        config = uvicorn.Config(
            "alertpolicy.engine.serve.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            timeout_worker_healthcheck=WORKER_START_SECONDS,
        )
        with metrics_dir, listening_socket(host, port) as sock:
            log.info("serving on %s:%d with %d workers", host, sock.getsockname()[1], workers)
            Workers(config, sockets=[sock]).run()
        return
    outcome = service.coordinator.reload()
    if not outcome.ok:
        service.close()
        raise PolicyError(outcome.errors)
    config = uvicorn.Config(
        create_app(service), host=host, port=port, log_level=settings.log_level, lifespan="on"
    )
    uvicorn.Server(config).run()
