"""The HTTP routes of a service of many schools (``serve --policies``).

Each school has the routes a single policy has, under its name: ``POST
/v1/schools/{school}/decisions``, ``GET /v1/schools/{school}/policy`` and ``POST
/-/schools/{school}/reload``; a school the service does not serve is a 404 naming it.
``GET /v1/schools`` lists every school; ``POST /-/reload`` looks at every school now.
The single-policy routes answer 404, saying where the school routes are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alertpolicy.engine.load.schools import unknown_school
from alertpolicy.engine.serve.httpio import errors_response, problem_response
from alertpolicy.engine.serve.routes import (
    accept_response,
    decision_response,
    healthz,
    metrics,
    openapi,
)

if TYPE_CHECKING:
    from alertpolicy.engine.serve.fleet import SchoolsService
    from alertpolicy.engine.serve.schools import School

TEMPLATES = (
    (re.compile(r"^/v1/schools/[^/]+/decisions$"), "/v1/schools/{school}/decisions"),
    (re.compile(r"^/v1/schools/[^/]+/policy$"), "/v1/schools/{school}/policy"),
    (re.compile(r"^/-/schools/[^/]+/reload$"), "/-/schools/{school}/reload"),
)
"""Paths naming a school, and the route each is counted under in the metrics."""


def _service(request: Request) -> SchoolsService:
    service: SchoolsService = request.app.state.service
    return service


def _school(request: Request) -> School | Response:
    """The school the path names, or a 404 naming it."""
    service = _service(request)
    name = str(request.path_params["school"])
    school = service.school(name)
    if school is None:
        known = service.schools.names()
        where = str(service.settings.policies_dir)
        return errors_response(404, [unknown_school(name, known, where)])
    return school


async def post_school_decision(request: Request) -> Response:
    """``POST /v1/schools/{school}/decisions``: the school's decision for the incident."""
    service = _service(request)
    school = _school(request)
    if isinstance(school, Response):
        service.metrics.decisions.labels("", "invalid", "unknown_school").inc()
        return school
    return await decision_response(
        request, service.metrics, (school.name,), lambda raw: service.decide(school, raw)
    )


async def get_school_policy(request: Request) -> Response:
    """``GET /v1/schools/{school}/policy``: the school's revision serving and its state."""
    school = _school(request)
    if isinstance(school, Response):
        return school
    return JSONResponse(_service(request).status(school))


async def get_schools(request: Request) -> Response:
    """``GET /v1/schools``: every school served, one line each."""
    return JSONResponse(_service(request).overview())


async def post_school_reload(request: Request) -> Response:
    """``POST /-/schools/{school}/reload``: rebuild the school's policy now (200, or 422
    with its errors); with ``{"accept": "<held revision>"}``, serve the held revision."""
    school = _school(request)
    if isinstance(school, Response):
        return school
    accepted = await accept_response(request, school.coordinator)
    if accepted is not None:
        return accepted
    done = await run_in_threadpool(_service(request).reload, school.name, True)
    if done is None:
        return problem_response(404, "unknown-school", f"no school {school.name!r}")
    return JSONResponse(done.to_json(), status_code=200 if done.ok else 422)


async def post_reload_all(request: Request) -> Response:
    """``POST /-/reload``: look at every school now (new ones start, changed ones reload)."""
    service = _service(request)
    service.request_reload(False)
    return JSONResponse({"schools": len(service.schools.names()), "requested": True}, 202)


async def readyz(request: Request) -> Response:
    """``GET /readyz``: 200 while every school with a valid policy can decide (in every
    worker)."""
    why = request.app.state.readiness.why_not_ready()
    if why is not None:
        return JSONResponse({"status": "not ready", "reason": why}, status_code=503)
    return JSONResponse({"status": "ready", "reason": None})


async def single_policy_route(request: Request) -> Response:
    """The routes of a single policy, in a service of many schools: 404, saying where."""
    message = (
        f"this service serves many schools: use /v1/schools/{{school}}"
        f"{request.url.path.removeprefix('/v1')} (GET /v1/schools lists them)"
    )
    return problem_response(404, "school-required", message)


SCHOOL_ROUTES = [
    Route("/v1/schools/{school}/decisions", post_school_decision, methods=["POST"]),
    Route("/v1/schools/{school}/policy", get_school_policy, methods=["GET"]),
    Route("/v1/schools", get_schools, methods=["GET"]),
    Route("/-/schools/{school}/reload", post_school_reload, methods=["POST"]),
    Route("/-/reload", post_reload_all, methods=["POST"]),
    Route("/v1/decisions", single_policy_route, methods=["POST"]),
    Route("/v1/policy", single_policy_route, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]


def route_label(path: str) -> str | None:
    """The route a school path is counted under (``/v1/schools/{school}/decisions``)."""
    for pattern, template in TEMPLATES:
        if pattern.match(path):
            return template
    return None
