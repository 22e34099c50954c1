"""Reading request bodies and answering errors, in the one JSON shape of a problem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from alertpolicy.engine.errors import Problem, RequestRejected


def errors_response(
    status: int, problems: Iterable[Problem], headers: Mapping[str, str] | None = None
) -> Response:
    """``{"errors": [problem, ...]}`` (:meth:`Problem.to_json`) with ``status``."""
    body = {"errors": [problem.to_json() for problem in problems]}
    return JSONResponse(body, status_code=status, headers=headers)


def problem_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error response holding one problem about the whole request."""
    return errors_response(status, [Problem(code, message)], headers)


def _rejected(status: int, code: str, message: str, value: object = None) -> RequestRejected:
    problem = Problem(code.replace("_", "-"), message, value=value)
    return RequestRejected([problem], status, code)


DRAIN_BYTES = 1 << 20
"""How much more than the limit of a too-large body is read (and dropped) before the 413
is sent, so that a client still sending it reads the answer rather than a closed
connection; a body larger still is cut off."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) when it exceeds ``limit`` bytes: at once when its
    declared length is far larger, else once read (and dropped) whole, at most
    :data:`DRAIN_BYTES` past the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            message = "the Content-Length header is not a number"
            raise _rejected(400, "bad_request", message, declared)
        if int(declared) > limit + DRAIN_BYTES:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + DRAIN_BYTES:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestRejected:
    message = f"the request body is larger than the limit of {limit} bytes (--max-body-bytes)"
    return _rejected(413, "too_large", message)


def check_content_type(request: Request) -> None:
    """Refuse (415) anything but JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        message = f"send the incident as application/json, not {media or 'no Content-Type'}"
        raise _rejected(415, "unsupported_media_type", message)
