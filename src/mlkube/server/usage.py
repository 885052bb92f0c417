"""Usage records over HTTP, for `mlkube usage`:

    GET /apis/mlkube.io/v1alpha1/namespaces/NS/usagerecords   one namespace's finished attempts
    GET /apis/mlkube.io/v1alpha1/usagerecords                 every namespace's

Records are not a stored kind (see `mlkube.store.accounting`), so these read-only paths are
served beside the resource routes. Whoever may list a namespace's pipelineruns may read its
records; the all-namespaces form needs that right everywhere, as listing runs does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlkube.api.errors import NotFound
from mlkube.api.kinds import PIPELINE_RUN
from mlkube.api.meta import API_GROUP, API_VERSION
from mlkube.server.context import ApiContext
from mlkube.server.errors import any_error_response
from mlkube.server.routing import ResourcePath
from mlkube.store.accounting import AccountingLog

PLURAL = "usagerecords"


def usage_routes(ctx: ApiContext, accounting: AccountingLog | None) -> list[Route]:
    """The two read-only routes (404 without an accounting log)."""

    async def records(request: Request) -> Response:
        namespace = request.path_params.get("namespace")
        user = str(request.scope.get("state", {}).get("user", ""))
        target = ResourcePath(PIPELINE_RUN, namespace)
        try:
            if ctx.authorizer is not None:
                ctx.authorizer(user, "list", target)
            if accounting is None:
                raise NotFound("usage records are not kept by this server")
            items = [r.to_dict() for r in accounting.records(namespace)]
            response: Response = JSONResponse(
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": "UsageRecordList",
                    "items": items,
                }
            )
        except Exception as err:
            response = any_error_response(err)
        if ctx.audit is not None:
            ctx.audit(
                {
                    "user": user,
                    "verb": "list",
                    "resource": f"{PLURAL}.{API_GROUP}",
                    "subresource": None,
                    "namespace": namespace,
                    "name": None,
                    "path": request.url.path,
                    "code": response.status_code,
                    "decision": "forbid" if response.status_code == 403 else "allow",
                }
            )
        return response

    base = f"/apis/{API_GROUP}/{API_VERSION}"
    return [
        Route(f"{base}/{PLURAL}", records, methods=["GET"]),
        Route(f"{base}/namespaces/{{namespace}}/{PLURAL}", records, methods=["GET"]),
    ]
