"""The HTTP API's factory and route table (Kubernetes REST conventions, on Starlette).

Resource URLs are parsed by `routing.parse_resource_path`, not by Starlette's router, so that
one pure function owns the URL grammar and every miss becomes a Kubernetes `Status`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlkube.api.clock import Clock, SystemClock
from mlkube.api.errors import ServiceUnavailable
from mlkube.server import discovery, logs, openapi, reads, writes
from mlkube.server.auth import BearerAuth
from mlkube.server.context import (
    Admission,
    ApiContext,
    Audit,
    Authenticator,
    Authorizer,
    JobLogSource,
    LogSource,
)
from mlkube.server.errors import (
    any_error_response,
    handle_exception,
    method_not_allowed,
    route_not_found,
)
from mlkube.server.routing import ResourcePath, parse_resource_path, verb_for
from mlkube.server.usage import usage_routes
from mlkube.store.accounting import AccountingLog
from mlkube.store.base import ResourceStore

Handler = Callable[[ApiContext, Request, ResourcePath], Awaitable[Response]]

# (subresource, verb) → handler; `routing.verb_for` has already refused what a kind lacks.
HANDLERS: dict[tuple[str | None, str], Handler] = {
    (None, "list"): reads.list_or_watch,
    (None, "create"): writes.create,
    (None, "deletecollection"): writes.delete_collection,
    (None, "get"): reads.get,
    (None, "update"): writes.update,
    (None, "patch"): writes.patch,
    (None, "delete"): writes.delete,
    ("status", "get"): reads.get,
    ("status", "update"): writes.update_status,
    ("status", "patch"): writes.patch,
    ("log", "get"): logs.logs,
}
RESOURCE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def create_app(
    *,
    store: ResourceStore,
    authenticator: Authenticator,
    admission: Sequence[Admission] = (),
    log_source: LogSource | None = None,
    clock: Clock | None = None,
    authorizer: Authorizer | None = None,
    audit: Audit | None = None,
    accounting: AccountingLog | None = None,
    job_log_source: JobLogSource | None = None,
) -> Starlette:
    """The API server as an ASGI app, serving every kind in `mlkube.api.kinds.KINDS`.

    `authenticator` maps a bearer token to a user (None → 401); `admission` checks run on
    create and update of main resources (any cause → 422); `log_source` finds step log files
    (None → logs are 404); `clock` (default: the system clock) times watch timeouts.
    `authorizer` checks each request's user, verb and resource (None: every signed-in user may
    do everything); `audit` records every resource request with its answer; `accounting` is
    the usage log `server.usage` serves (None: those paths answer 404); `job_log_source` finds
    TrainingJob workers' log files (None → their logs are 404).
    """
    ctx = ApiContext(
        store,
        tuple(admission),
        log_source,
        clock or SystemClock(),
        authorizer,
        audit,
        job_log_source,
    )

    async def resources(request: Request) -> Response:
        return await dispatch(ctx, request)

    routes = [*probe_routes(ctx), *discovery_routes(), *usage_routes(ctx, accounting)]
    routes.append(Route("/{path:path}", resources, methods=RESOURCE_METHODS))
    app = Starlette(
        routes=routes,
        # HTTPException: Starlette's own 404/405; Exception: the last-resort 500.
        exception_handlers={HTTPException: handle_exception, Exception: handle_exception},
    )
    app.add_middleware(BearerAuth, authenticator=authenticator)
    return app


async def dispatch(ctx: ApiContext, request: Request) -> Response:
    """Route a resource request to its handler; every failure becomes a `Status` response."""
    user = str(request.scope.get("state", {}).get("user", ""))
    target: ResourcePath | None = None
    verb: str | None = None
    try:
        target = parse_resource_path(request.scope["path"])
        if target is None:
            raise route_not_found()
        verb = verb_for(target, request.method)
        if verb is None:
            raise method_not_allowed(request.method)
        if verb == "list" and request.query_params.get("watch") in ("true", "1"):
            verb = "watch"
        if ctx.authorizer is not None:
            ctx.authorizer(user, verb, target)
        response = await HANDLERS[(target.subresource, "list" if verb == "watch" else verb)](
            ctx, request, target
        )
    except Exception as err:
        response = any_error_response(err)
    if ctx.audit is not None:
        ctx.audit(audit_record(user, request, target, verb, response.status_code))
    return response


def audit_record(
    user: str, request: Request, target: ResourcePath | None, verb: str | None, code: int
) -> dict[str, object]:
    """What the audit log keeps of one request."""
    return {
        "user": user,
        "verb": verb or request.method.lower(),
        "resource": target.kind.resource if target else None,
        "subresource": target.subresource if target else None,
        "namespace": target.namespace if target else None,
        "name": target.name if target else None,
        "path": request.url.path,
        "code": code,
        "decision": "forbid" if code == 403 else "allow",
    }


def probe_routes(ctx: ApiContext) -> list[Route]:
    """`/healthz` (the process answers) and `/readyz` (the store answers); no token needed."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            ctx.store.current_resource_version()
        except Exception as err:
            return any_error_response(ServiceUnavailable(f"the store is not ready: {err}"))
        return PlainTextResponse("ok")

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


def discovery_routes() -> list[Route]:
    """The discovery and OpenAPI documents kubectl and the kubernetes client read first."""

    async def version(request: Request) -> Response:
        return JSONResponse(discovery.version_info())

    async def api(request: Request) -> Response:
        return JSONResponse(discovery.api_versions(request.url.netloc))

    async def core(request: Request) -> Response:
        return JSONResponse(discovery.api_resource_list("", "v1"))

    async def apis(request: Request) -> Response:
        return JSONResponse(discovery.api_group_list())

    async def group(request: Request) -> Response:
        versions = discovery.groups().get(request.path_params["group"])
        if not versions:
            return any_error_response(route_not_found())
        return JSONResponse(discovery.api_group(request.path_params["group"], versions))

    async def group_version(request: Request) -> Response:
        name, version = request.path_params["group"], request.path_params["version"]
        if version not in discovery.groups().get(name, []):
            return any_error_response(route_not_found())
        return JSONResponse(discovery.api_resource_list(name, version))

    async def openapi_index(request: Request) -> Response:
        return JSONResponse(openapi.index())

    async def openapi_document(request: Request) -> Response:
        doc = openapi.document_for_path(request.path_params["path"])
        if doc is None:
            return any_error_response(route_not_found())
        return JSONResponse(doc)

    get = ["GET"]
    return [
        Route("/version", version, methods=get),
        Route("/api", api, methods=get),
        Route("/api/v1", core, methods=get),
        Route("/apis", apis, methods=get),
        Route("/apis/{group}", group, methods=get),
        Route("/apis/{group}/{version}", group_version, methods=get),
        Route("/openapi/v3", openapi_index, methods=get),
        Route("/openapi/v3/{path:path}", openapi_document, methods=get),
    ]
