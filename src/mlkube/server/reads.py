"""Handlers that read: get an object, list a collection, or watch it.

Store calls are direct: sub-millisecond SQLite reads (see `mlkube.server.writes`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from mlkube.api.labels import parse_selector
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
    """GET an object (or its `/status`, which is the whole object, as in Kubernetes)."""
    assert target.name is not None and target.namespace is not None, "routing gives both"
    return JSONResponse(ctx.store.get(target.kind.resource, target.namespace, target.name))


async def list_or_watch(ctx: ApiContext, request: Request, target: ResourcePath) -> Response:
    """GET a collection: a `...List`, or with `?watch=true` a stream of watch events.

    Honours `labelSelector` and `fieldSelector` (metadata.name / metadata.namespace).
    """
    params = request.query_params
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
        )
        return watch_response(ctx, watch)
    items, version = ctx.store.list(target.kind.resource, namespace, label_selector=label_selector)
    return JSONResponse(list_body(target.kind, [i for i in items if matches(i)], version))


def watch_response(ctx: ApiContext, watch: WatchRequest) -> StreamingResponse:
    """The chunked stream of a watch: one JSON event per line."""
    # `Cache-Control: no-cache` so that no proxy holds events back.
    return StreamingResponse(
        watch_stream(ctx.store, watch, clock=ctx.clock),
        media_type="application/json",
        headers={"Cache-Control": "no-cache, private"},
    )
