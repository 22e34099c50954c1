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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            message = "the Content-Length header is not a number"
            raise _rejected(400, "bad_request", message, declared)
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
