"""Plain-JSON use of the official client's typed methods.

The runtime works on pods as the plain dicts the API server sends (the shape the builders and
`pod_exits` read), so it calls the typed `CoreV1Api` methods with `_preload_content=False` and
reads the JSON itself, and passes dicts as bodies (the client sends them as they are). The
client's type hints describe only the deserialized forms; these helpers say where we differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from kubernetes.watch.watch import iter_resp_lines


def body(obj: dict[str, Any]) -> Any:
    """A dict passed where the client's hints name a model class (it serializes both)."""
    return obj


def json_of(response: object) -> Any:
    """The JSON body of an unread (`_preload_content=False`) response."""
    return json.loads(cast(Any, response).data)


def bytes_of(response: object) -> bytes:
    """The raw body of an unread response (a pod's log)."""
    data = cast(Any, response).data
    return data if isinstance(data, bytes) else str(data).encode()


def lines_of(response: object) -> Iterator[str]:
    """The lines of a streaming (watch) response, as they arrive."""
    lines: Iterator[str] = iter_resp_lines(response)  # type: ignore[no-untyped-call]
    return lines


def release(response: object) -> None:
    """Give a streaming response's connection back (or drop it)."""
    cast(Any, response).release_conn()


def shutdown(response: object) -> None:
    """Unblock a read of `response` in progress in another thread."""
    cast(Any, response).shutdown()
