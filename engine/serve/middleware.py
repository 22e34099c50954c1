"""Around every request: the bearer token, request metrics, and a bare 500 for a bug."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertpolicy.engine.serve.auth import (
    BROWSER_CHALLENGE,
    OPEN_PATHS,
    basic_ok,
    bearer_ok,
    challenge,
    for_browser,
)
from alertpolicy.engine.serve.httpio import problem_response
from alertpolicy.engine.serve.routes import ROUTE_PATHS
from alertpolicy.engine.serve.schoolroutes import route_label

if TYPE_CHECKING:
    from alertpolicy.engine.serve.app import Served

log = logging.getLogger("alertpolicy.serve")


class AccessMiddleware:
    """Bearer-token check, request metrics, and a bare 500 (never a traceback) for a bug."""

    def __init__(self, app: ASGIApp, service: Served) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token, run the route, count the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in ROUTE_PATHS else route_label(path) or "other"
        status = {"code": 500, "started": False}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            if self._allowed(scope):
                await self.app(scope, receive, send_status)
            else:
                await self._deny(scope, receive, send_status)
        except Exception as error:  # a bug: log where (not what: it may hold input), say 500
            log.error(
                "internal error answering %s %s: %s %s",
                scope["method"],
                route,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            if not status["started"]:
                message = "internal error: the request was not completed"
                response = problem_response(500, "internal-error", message)
                await response(scope, receive, send_status)
        finally:
            self.service.metrics.requests.labels(route, scope["method"], str(status["code"])).inc()

    def _allowed(self, scope: Scope) -> bool:
        token = self.service.token
        if token is None or scope["path"] in OPEN_PATHS:
            return True
        given = dict(scope["headers"]).get(b"authorization", b"")
        return bearer_ok(token, given) or (for_browser(scope["path"]) and basic_ok(token, given))

    async def _deny(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope["headers"]).get(b"authorization", b"")
        message = "a valid bearer token is required (Authorization: Bearer <token>)"
        headers = {"WWW-Authenticate": challenge(given)}
        if for_browser(scope["path"]):  # a browser asks for the token as a password
            headers["WWW-Authenticate"] = BROWSER_CHALLENGE
        await problem_response(401, "unauthorized", message, headers)(scope, receive, send)
