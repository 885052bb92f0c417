"""Reading request bodies with a size limit, refused with a `Status` before they are parsed."""

from __future__ import annotations

from starlette.requests import Request

from mlkube.api.errors import RequestEntityTooLarge

# Kubernetes refuses request bodies over 3 MiB; so do we.
MAX_BODY_BYTES = 3 * 1024 * 1024


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole request body; `RequestEntityTooLarge` as soon as it is known to exceed
    `limit` bytes (from Content-Length, else while reading), so a huge upload is not buffered."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"the request body is larger than {limit // (1024 * 1024)} MiB")
