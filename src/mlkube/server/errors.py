"""Every error the HTTP API sends is a Kubernetes `Status` body, never an HTML page.

`ApiError`s carry their own code and reason; this module adds the few HTTP-only failures that
`mlkube.api.errors` does not model (415, 413, routing 404/405) and the Starlette handlers that
turn anything raised while serving a request into a `Status` response.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mlkube.api.errors import ApiError, InternalError, MethodNotAllowed, NotFound

log = logging.getLogger("mlkube.server")

# Kubernetes reasons (metav1.StatusReason) for HTTP codes raised outside our handlers.
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def route_not_found() -> NotFound:
    """What Kubernetes answers for a path that names no resource."""
    return NotFound("the server could not find the requested resource")


def method_not_allowed(method: str) -> MethodNotAllowed:
    """What Kubernetes answers for a verb the resource does not support."""
    return MethodNotAllowed(
        f"the server does not allow this method on the requested resource ({method})"
    )


def status_body(code: int, message: str, reason: str | None = None) -> dict[str, Any]:
    """A failure `Status` for an HTTP code that has no `ApiError` class."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }


def error_response(err: ApiError) -> JSONResponse:
    """The `Status` response for an API error, with its HTTP code."""
    headers = {}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(err.retry_after_seconds)
    return JSONResponse(err.to_status(), status_code=err.code, headers=headers)


def http_error_response(exc: HTTPException) -> JSONResponse:
    """A Starlette `HTTPException` (routing 404/405, body too large) as a `Status`."""
    if exc.status_code == 404:
        return error_response(route_not_found())
    phrase = http.HTTPStatus(exc.status_code).phrase if exc.status_code in _REASONS else ""
    message = exc.detail or phrase
    return JSONResponse(status_body(exc.status_code, message), status_code=exc.status_code)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """A 500 `Status` with a generic message; the traceback goes to the server log only
    (it may hold paths or data the caller should not see)."""
    log.error("unexpected error while serving a request", exc_info=exc)
    return error_response(InternalError("Internal error occurred: see the mlkube server log"))


def any_error_response(exc: BaseException) -> Response:
    """The `Status` response for anything raised while handling a request."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, HTTPException):
        return http_error_response(exc)
    return unexpected_error_response(exc)


async def handle_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: every exception becomes a `Status` body."""
    return any_error_response(exc)
