"""The fake kube-apiserver as an ASGI app: discovery, then every resource URL.

No authentication and no authorization: every request is allowed, as for a cluster admin.
Every failure is a Kubernetes `Status` body (through `mlkube.server.errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlkube.server.errors import (
    any_error_response,
    handle_exception,
    method_not_allowed,
    route_not_found,
)
from mlkube.testing.kube import discovery, openapi, reads, writes
from mlkube.testing.kube.addons import served_version_schema
from mlkube.testing.kube.context import FakeApiContext
from mlkube.testing.kube.metrics import FakePodMetrics, api_group, metrics_routes
from mlkube.testing.kube.routing import Target, parse

Handler = Callable[[FakeApiContext, Request, Target], Awaitable[Response]]
HANDLERS: dict[str, Handler] = {
    "get": reads.get,
    "list": reads.list_or_watch,
    "create": writes.create,
    "update": writes.update,
    "patch": writes.patch,
    "delete": writes.delete,
    "deletecollection": writes.delete_collection,
}


def create_app(ctx: FakeApiContext, pod_metrics: FakePodMetrics | None = None) -> Starlette:
    """The app serving `ctx.store` as a kube-apiserver would; with `pod_metrics`, also the
    resource metrics API (`metrics`)."""

    async def resources(request: Request) -> Response:
        try:
            target = parse(request.scope["path"])
            if target is None or not _installed(ctx, target):
                raise route_not_found()
            verb = target.verb(request.method)
            if verb is None:
                raise method_not_allowed(request.method)
            return await HANDLERS[verb](ctx, request, target)
        except Exception as err:
            return any_error_response(err)

    routes = metrics_routes(pod_metrics) if pod_metrics is not None else []
    extra_groups = [api_group()] if pod_metrics is not None else []
    routes += _discovery_routes(ctx.kubernetes_version, extra_groups)
    routes.append(
        Route("/{path:path}", resources, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    )
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: handle_exception, Exception: handle_exception},
    )


def _installed(ctx: FakeApiContext, target: Target) -> bool:
    """Whether the target's kind is served now: another project's only with its CRD."""
    served = target.served
    return not served.requires_crd or served_version_schema(ctx.store, served) is not None


def _discovery_routes(kubernetes_version: str, extra_groups: list[dict[str, Any]]) -> list[Route]:
    minor = kubernetes_version.split(".")[1]

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def version(request: Request) -> Response:
        return JSONResponse(discovery.version_info(minor))

    async def api(request: Request) -> Response:
        return JSONResponse(discovery.api_versions(request.url.netloc))

    async def apis(request: Request) -> Response:
        return JSONResponse(discovery.api_group_list(extra_groups))

    async def group(request: Request) -> Response:
        versions = discovery.groups().get(request.path_params["group"])
        if not versions:
            return any_error_response(route_not_found())
        return JSONResponse(discovery.api_group(request.path_params["group"], versions))

    async def resource_list(request: Request) -> Response:
        params = request.path_params
        body = discovery.api_resource_list(params.get("group", ""), params["version"])
        return any_error_response(route_not_found()) if body is None else JSONResponse(body)

    async def openapi_index(request: Request) -> Response:
        return JSONResponse(openapi.index())

    async def openapi_document(request: Request) -> Response:
        doc = openapi.document_for_path(request.path_params["path"])
        return any_error_response(route_not_found()) if doc is None else JSONResponse(doc)

    get = ["GET"]
    documents = {
        "/version": version,
        "/api": api,
        "/api/{version}": resource_list,
        "/apis": apis,
        "/apis/{group}": group,
        "/apis/{group}/{version}": resource_list,
    }
    # The official client asks for `/api/v1/` (with the slash) when it lists resources.
    return [
        Route("/openapi/v3", openapi_index, methods=get),
        Route("/openapi/v3/{path:path}", openapi_document, methods=get),
        *(Route(p, ok, methods=get) for p in ("/healthz", "/readyz", "/livez")),
        *(Route(p, handler, methods=get) for p, handler in documents.items()),
        *(Route(f"{p}/", handler, methods=get) for p, handler in documents.items()),
    ]
