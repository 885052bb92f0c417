"""Errors that cross the API boundary, shaped as Kubernetes `Status` objects.

Every layer raises these; the HTTP server turns them into a `Status` body with the same
`code`, `reason`, `message` and `details.causes`, and the client turns such a body back into
the same exception class. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Cause:
    """One reason a request was refused, naming the field it concerns (`spec.steps[1].name`)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reason": self.reason}


@dataclass
class ApiError(Exception):
    """Base of all API errors: HTTP `code`, Kubernetes `reason`, human `message`."""

    message: str
    kind: str = ""
    name: str = ""
    group: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after_seconds: int | None = None

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.causes:
            return self.message
        lines = [self.message] + [f"  {c.field}: {c.message}" for c in self.causes]
        return "\n".join(lines)

    def to_status(self) -> dict[str, Any]:
        """The Kubernetes `Status` object for this error."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    """A write based on a stale `resourceVersion` (optimistic concurrency)."""

    code = 409
    reason = "Conflict"


class Expired(ApiError):
    """A watch or list asked to resume from a `resourceVersion` that was compacted away."""

    code = 410
    reason = "Expired"


class RequestEntityTooLarge(ApiError):
    """A request body over the server's limit."""

    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    """A request body in a content type this server does not speak (e.g. a JSON patch)."""

    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    """The object failed validation; `causes` name each offending field."""

    code = 422
    reason = "Invalid"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        AlreadyExists,
        Conflict,
        Expired,
        RequestEntityTooLarge,
        UnsupportedMediaType,
        Invalid,
        InternalError,
        ServiceUnavailable,
    )
}


def error_from_status(status: dict[str, Any]) -> ApiError:
    """Rebuild the exception a server sent as a `Status` body (used by the HTTP client)."""
    details = status.get("details") or {}
    causes = [
        Cause(field=c.get("field", ""), message=c.get("message", ""), reason=c.get("reason", ""))
        for c in details.get("causes") or []
    ]
    cls = _BY_REASON.get(str(status.get("reason", "")), ApiError)
    err = cls(
        message=str(status.get("message", "")),
        kind=str(details.get("kind", "")),
        name=str(details.get("name", "")),
        group=str(details.get("group", "")),
        causes=causes,
        retry_after_seconds=details.get("retryAfterSeconds"),
    )
    return err
