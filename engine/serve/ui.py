"""The read-only web view under ``/ui/``: the alert map, ``who``, users and categories.

The pages describe the revision serving (the one decisions are made with), never the
files on disk: while the coverage guard holds a newer revision back, or a newer one
failed to load, every page says so.  Each revision's pages are built on first request
and kept while it serves (:class:`~alertpolicy.engine.audit.pages.site.PolicyPages`).  A
question the policy cannot answer (an unknown category, user or parameter) is a 4xx
page naming the value.  The bearer token guards ``/ui/`` as it guards the API; a browser
may also give it as the password of HTTP Basic authentication (see :mod:`.auth`).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from alertpolicy.engine.audit.pages.links import Links
from alertpolicy.engine.audit.pages.site import Page, PolicyPages
from alertpolicy.engine.serve.revision import Revision

if TYPE_CHECKING:
    from alertpolicy.engine.serve.app import Service
    from alertpolicy.engine.serve.coordinator import Coordinator

UI_PREFIX = "/ui"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
"""Pages hold staff names: never cached, never framed, no script of any origin."""

_pages: weakref.WeakKeyDictionary[Revision, PolicyPages] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _coordinator(request: Request) -> Coordinator:
    service: Service = request.app.state.service
    return service.coordinator


def pages_of(revision: Revision) -> PolicyPages:
    """The web view of ``revision``, built once."""
    with _lock:
        found = _pages.get(revision)
        if found is None:
            found = _pages[revision] = PolicyPages(revision.policy, revision.candidate.label)
        return found


def notices(coordinator: Coordinator) -> tuple[str, ...]:
    """What a reader must know about the revision shown: one held back, one that failed."""
    found = []
    held = coordinator.held
    if held is not None:
        found.append(
            f"A newer revision ({held.revision}) passed every check but is held back by the "
            "coverage guard until an operator accepts it; these pages show the revision "
            f"serving. Why it is held: {held.summary()}"
        )
    last = coordinator.last_reload
    if last is not None and not last.ok and last.errors:
        found.append(
            "The policy files were changed, but the new revision could not be loaded "
            f"({len(last.errors)} error{'s' if len(last.errors) != 1 else ''}, see "
            "GET /v1/policy or alertpolicy check); these pages show the revision serving."
        )
    return tuple(found)


def _html(page: Page) -> Response:
    return HTMLResponse(page.html, status_code=page.status, headers=HEADERS)


async def _answer(request: Request, depth: int, kind: str, name: str = "") -> Response:
    coordinator = _coordinator(request)
    revision = coordinator.current
    links = Links(static=False, depth=depth)
    if revision is None:
        body = "<!doctype html><title>Not ready · alertpolicy</title><p>No valid policy has "
        body += "been loaded yet.</p>"
        return HTMLResponse(body, status_code=503, headers={**HEADERS, "Retry-After": "1"})
    shown = notices(coordinator)
    params = list(request.query_params.multi_items())

    def render() -> Page:
        pages = pages_of(revision)
        if kind == "home":
            return pages.home(links, shown)
        if kind == "who":
            return pages.who(params, links, shown)
        if kind == "people":
            return pages.people(links, shown)
        if kind == "user":
            return pages.user(name, links, shown)
        if kind == "category":
            return pages.category(name, links, shown)
        return pages.error(404, f"There is no page {request.url.path!r}.", links, shown)

    return _html(await run_in_threadpool(render))


async def home(request: Request) -> Response:
    """``GET /ui/``: the alert map."""
    return await _answer(request, 0, "home")


async def who(request: Request) -> Response:
    """``GET /ui/who?category=...&student_group=...&student=...&alert_group=...``."""
    return await _answer(request, 0, "who")


async def people(request: Request) -> Response:
    """``GET /ui/people``: everyone in the policy."""
    return await _answer(request, 0, "people")


async def user(request: Request) -> Response:
    """``GET /ui/users/<id>``: a user's profile."""
    return await _answer(request, 1, "user", request.path_params["user_id"])


async def category(request: Request) -> Response:
    """``GET /ui/categories/<name>``: who a category alerts."""
    return await _answer(request, 1, "category", request.path_params["name"])


async def unknown(request: Request) -> Response:
    """Any other path under ``/ui/``: a 404 page."""
    depth = request.path_params["rest"].count("/")
    return await _answer(request, depth, "unknown")


UI_ROUTES = [
    Mount(
        UI_PREFIX,
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/who", who, methods=["GET"]),
            Route("/people", people, methods=["GET"]),
            Route("/users/{user_id:path}", user, methods=["GET"]),
            Route("/categories/{name:path}", category, methods=["GET"]),
            Route("/{rest:path}", unknown, methods=["GET"]),
        ],
    )
]
"""The web view's routes, added to the app beside the API's."""
