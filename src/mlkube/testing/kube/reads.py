"""Request handlers of the fake kube-apiserver that read: get, list, watch, pod logs, scale.

Watches stream newline-delimited JSON events from the store's event log (one global
resourceVersion); a watch that resumes from a version the store has already discarded gets
an ERROR event carrying a 410 `Expired` Status, as from a kube-apiserver.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from mlkube.api.errors import ApiError, BadRequest, NotFound
from mlkube.api.labels import parse_selector
from mlkube.server.params import parse_bool, parse_int, parse_resource_version
from mlkube.server.tables import include_object, table_version
from mlkube.server.watch import StoreWakeup, event_line
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.context import FakeApiContext
from mlkube.testing.kube.routing import Target
from mlkube.testing.kube.tables import table
from mlkube.testing.kube.writes import scale_of

POLL_SECONDS = 0.5
Predicate = Callable[[Mapping[str, Any]], bool]


async def get(ctx: FakeApiContext, request: Request, target: Target) -> Response:
    """GET an object, its `/status` (the whole object), its `/scale`, or a pod's `/log`."""
    assert target.name is not None and target.namespace is not None
    if target.subresource == "log":
        return await pod_log(ctx, request, target)
    obj = ctx.store.get(target.served.resource, target.namespace, target.name)
    if target.subresource == "scale":
        return JSONResponse(scale_of(obj))
    version = table_version(request.headers.get("accept", ""))
    if version is None:
        return JSONResponse(obj)
    rv = obj["metadata"].get("resourceVersion", "")
    include = include_object(request.query_params)
    return JSONResponse(
        table(
            target.served.kind,
            [obj],
            version=version,
            resource_version=rv,
            include=include,
            now=_now(),
        )
    )


async def list_or_watch(ctx: FakeApiContext, request: Request, target: Target) -> Response:
    """GET a collection: a `...List` (with `limit`/`continue`), a Table, or a watch stream."""
    params = request.query_params
    label_selector = params.get("labelSelector") or None
    parse_selector(label_selector or "")
    matches = field_selector(params.get("fieldSelector", ""))
    namespace = target.namespace if target.served.namespaced else None
    if parse_bool(params, "watch"):
        timeout = parse_int(params, "timeoutSeconds") or None
        stream = watch_stream(
            ctx.store,
            target.served.resource,
            namespace,
            label_selector=label_selector,
            matches=matches,
            start=parse_resource_version(params),
            timeout=timeout,
        )
        return StreamingResponse(
            stream, media_type="application/json", headers={"Cache-Control": "no-cache, private"}
        )
    items, rv = ctx.store.list(target.served.resource, namespace, label_selector=label_selector)
    items = [i for i in items if matches(i)]
    version = table_version(request.headers.get("accept", ""))
    if version is not None:
        include = include_object(params)
        return JSONResponse(
            table(
                target.served.kind,
                items,
                version=version,
                resource_version=str(rv),
                include=include,
                now=_now(),
            )
        )
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    items, meta["continue"] = _page(items, params)
    if not meta["continue"]:
        del meta["continue"]
    body = {
        "apiVersion": target.served.api_version,
        "kind": f"{target.served.kind}List",
        "metadata": meta,
        "items": items,
    }
    return JSONResponse(body)


def _page(
    items: list[dict[str, Any]], params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str]:
    """One page of a chunked list; the continue token is the offset of the next page."""
    start = 0
    token = params.get("continue") or ""
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise BadRequest(f'invalid continue token "{token}"') from None
    limit = parse_int(params, "limit") or 0
    if not limit or start + limit >= len(items):
        return items[start:], ""
    following = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return items[start : start + limit], following


def field_selector(text: str) -> Predicate:
    """A predicate for `?fieldSelector=spec.nodeName=n,status.phase!=Failed`: any dotted
    path of the object, compared as text (an absent field is "")."""
    clauses: list[tuple[list[str], str, bool]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        for operator in ("!=", "==", "="):
            field, found, value = part.partition(operator)
            if found:
                clauses.append((field.strip().split("."), value.strip(), operator != "!="))
                break
        else:
            raise BadRequest(
                f'invalid field selector "{part}": expected field=value or field!=value'
            )
    return lambda obj: all((_field(obj, path) == value) == equal for path, value, equal in clauses)


def _field(obj: Mapping[str, Any], path: list[str]) -> str:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


async def watch_stream(
    store: ResourceStore,
    resource: str,
    namespace: str | None,
    *,
    label_selector: str | None,
    matches: Predicate,
    start: int | None,
    timeout: int | None,
) -> AsyncIterator[bytes]:
    """Watch events as lines until `timeout` seconds pass (None: until the client leaves)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    wakeup = StoreWakeup(store)
    try:
        if start is None:
            items, cursor = store.list(resource, namespace, label_selector=label_selector)
            for item in filter(matches, items):
                yield event_line("ADDED", item)
        else:
            cursor = start
        while deadline is None or loop.time() < deadline:
            wakeup.clear()
            head = store.current_resource_version()
            events = store.events_since(
                cursor, resource=resource, namespace=namespace, label_selector=label_selector
            )
            for event in events:
                if matches(event.object):
                    yield event_line(event.type, event.object)
            cursor = max(events[-1].resource_version if events else cursor, head)
            wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - loop.time())
            await wakeup.wait(max(wait, 0.0))
    except ApiError as err:
        yield event_line("ERROR", err.to_status())
    finally:
        wakeup.close()


async def pod_log(ctx: FakeApiContext, request: Request, target: Target) -> Response:
    """A pod's log as plain text (`tailLines`; `follow=true` streams until the pod ends)."""
    assert target.name is not None and target.namespace is not None
    pod = ctx.store.get(target.served.resource, target.namespace, target.name)
    container = request.query_params.get("container")
    first = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")
    if container and container != first:
        raise BadRequest(
            f"container {container} is not valid for pod {target.name}: "
            f"the fake kubelet runs only the first container ({first})"
        )
    path = ctx.pod_log(target.namespace, target.name)
    if path is None or not path.exists():
        raise BadRequest(
            f'container "{first}" in pod "{target.name}" is waiting to start: ContainerCreating'
        )
    tail = parse_int(request.query_params, "tailLines")
    if parse_bool(request.query_params, "follow"):
        return StreamingResponse(
            _follow(ctx, target, path.read_bytes, tail), media_type="text/plain"
        )
    return PlainTextResponse(_tail(path.read_bytes(), tail))


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    kept = data.splitlines(keepends=True)
    return b"".join(kept[-lines:]) if lines else b""


async def _follow(
    ctx: FakeApiContext, target: Target, read: Callable[[], bytes], tail: int | None
) -> AsyncIterator[bytes]:
    sent = 0
    data = read()
    first = _tail(data, tail)
    yield first
    sent = len(data)
    while True:
        ended = not _running(ctx, target)
        data = read()
        if len(data) > sent:
            yield data[sent:]
            sent = len(data)
        if ended:
            return
        await asyncio.sleep(0.1)


def _running(ctx: FakeApiContext, target: Target) -> bool:
    assert target.name is not None and target.namespace is not None
    try:
        pod = ctx.store.get(target.served.resource, target.namespace, target.name)
    except NotFound:
        return False
    return (pod.get("status") or {}).get("phase") in ("Pending", "Running")


def _now() -> datetime:
    return datetime.now(UTC)
