"""Handlers that read: get an object, list a collection, or watch it.

Store calls are direct: sub-millisecond SQLite reads (see `mlkube.server.writes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from mlkube.api.labels import parse_selector
from mlkube.server import tables
from mlkube.server.context import ApiContext
from mlkube.server.objects import list_body
from mlkube.server.params import (
    parse_bool,
    parse_field_selector,
    parse_int,
    parse_resource_version,
)
from mlkube.server.routing import ResourcePath
from mlkube.server.watch import WatchRequest, watch_stream


async def get(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """GET an object (or its `/status`, which is the whole object, as in Kubernetes), or a
    one-row `Table` of it when the client asks for one (`kubectl get KIND NAME`)."""
    assert target.name is not None and target.namespace is not None, "routing gives both"
    obj = ctx.store.get(target.kind.resource, target.namespace, target.name)
    version = tables.table_version(request.headers.get("accept", ""))
    if version is None:
        return JSONResponse(obj)
    include = tables.include_object(request.query_params)
    rv = obj["metadata"].get("resourceVersion", "")
    now = ctx.clock.now()
    body = tables.table(
        target.kind, [obj], version=version, resource_version=rv, include=include, now=now
    )
    return JSONResponse(body)


async def list_or_watch(ctx: ApiContext, request: Request, target: ResourcePath) -> Response:
    """GET a collection: a `...List`, or with `?watch=true` a stream of watch events.

    Honours `labelSelector` and `fieldSelector` (metadata.name / metadata.namespace).
    """
    params = request.query_params
    table_version = tables.table_version(request.headers.get("accept", ""))
    include = tables.include_object(params) if table_version else "Metadata"
    label_selector = params.get("labelSelector") or None
    parse_selector(label_selector or "")  # refuse a bad selector before any streaming starts
    matches = parse_field_selector(params.get("fieldSelector", ""))
    # Cluster-scoped objects all live in namespace "": listing it or everything is the same.
    namespace = target.namespace if target.kind.namespaced else None
    if parse_bool(params, "watch"):
        timeout = parse_int(params, "timeoutSeconds") or None  # 0: the default, no timeout
        watch = WatchRequest(
            kind=target.kind,
            namespace=namespace,
            label_selector=label_selector,
            matches=matches,
            start=parse_resource_version(params),
            deadline=None if timeout is None else ctx.clock.monotonic() + timeout,
            render=_table_rows(ctx, target, table_version, include) if table_version else None,
        )
        return watch_response(ctx, watch)
    items, version = ctx.store.list(target.kind.resource, namespace, label_selector=label_selector)
    items = [i for i in items if matches(i)]
    if table_version is None:
        return JSONResponse(list_body(target.kind, items, version))
    return JSONResponse(
        tables.table(
            target.kind,
            items,
            version=table_version,
            resource_version=str(version),
            include=include,
            now=ctx.clock.now(),
        )
    )


def _table_rows(
    ctx: ApiContext, target: ResourcePath, version: str, include: str
) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """Watch events as one-row Tables; only the first carries the column definitions."""
    sent_headers = False

    def render(obj: Mapping[str, Any]) -> Mapping[str, Any]:
        nonlocal sent_headers
        rv = (obj.get("metadata") or {}).get("resourceVersion", "")
        table = tables.table(
            target.kind,
            [obj],
            version=version,
            resource_version=rv,
            include=include,
            now=ctx.clock.now(),
            headers=not sent_headers,
        )
        sent_headers = True
        return table

    return render


def watch_response(ctx: ApiContext, watch: WatchRequest) -> StreamingResponse:
    """The chunked stream of a watch: one JSON event per line."""
    # `Cache-Control: no-cache` so that no proxy holds events back.
    return StreamingResponse(
        watch_stream(ctx.store, watch, clock=ctx.clock),
        media_type="application/json",
        headers={"Cache-Control": "no-cache, private"},
    )
