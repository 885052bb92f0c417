"""Handlers that change objects: create, update, status update, merge patch, delete.

Every write validates the exact object it is about to store (`kinds.validate`, then the
admission checks for the main resource), so a refused request changes nothing.

Store calls are made directly in these async handlers: they are synchronous SQLite calls on
local disk that take well under a millisecond and never wait on the network, so a thread hop
would cost more than it saves, and calling them in order keeps a request's read-check-write
sequence simple.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mlkube.api.errors import BadRequest, Cause, Conflict, Forbidden, NotFound, UnsupportedMediaType
from mlkube.api.kinds import NAMESPACE, Kind
from mlkube.api.meta import API_GROUP, CREATED_BY
from mlkube.controllers.namespace import FINALIZER as NAMESPACE_FINALIZER
from mlkube.server.body import read_body
from mlkube.server.context import ApiContext
from mlkube.server.objects import (
    for_create,
    for_update,
    list_body,
    parse_json_object,
    patch_candidate,
    status_candidate,
    validated,
)
from mlkube.server.params import parse_dry_run
from mlkube.server.routing import ResourcePath
from mlkube.store.objects import conflict

MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/json")
STRATEGIC = "application/strategic-merge-patch+json"
# A patch without a resourceVersion is retried on Conflict: someone else wrote in between,
# and re-applying the patch to the newer object is what the caller meant.
PATCH_ATTEMPTS = 5


async def create(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """POST a collection: 201 with the stored object."""
    kind, namespace = target.kind, target.namespace or ""
    obj = for_create(kind, parse_json_object(await read_body(request)), namespace)
    if kind.namespaced:
        check_namespace_open(ctx, kind, namespace, str(obj["metadata"].get("name") or ""))
    model, stored = validated(kind, obj)
    ctx.admit(kind, model, "CREATE")
    keep_namespace_finalizer(kind, stored)
    record_creator(stored, request)
    if parse_dry_run(request.query_params):
        return JSONResponse(stored, status_code=201)
    return JSONResponse(ctx.store.create(kind.resource, stored), status_code=201)


def record_creator(stored: dict[str, Any], request: Request) -> None:
    """Stamp who created the object (what usage is charged to); a client cannot choose it."""
    user = request.scope.get("state", {}).get("user")
    annotations = stored["metadata"].setdefault("annotations", {})
    if user:
        annotations[CREATED_BY] = str(user)
    else:
        annotations.pop(CREATED_BY, None)


def keep_namespace_finalizer(kind: Kind, stored: dict[str, Any]) -> None:
    """A live namespace always carries the cleanup finalizer: it is what makes deleting a
    namespace delete its content, so neither a create nor an edit (a PUT or `apply` that
    omits it) may leave it out. Once deletion has begun, the controller removes it."""
    meta = stored["metadata"]
    live = kind is NAMESPACE and not meta.get("deletionTimestamp")
    if live and NAMESPACE_FINALIZER not in meta["finalizers"]:
        meta["finalizers"].append(NAMESPACE_FINALIZER)


def check_namespace_open(ctx: ApiContext, kind: Kind, namespace: str, name: str) -> None:
    """Refuse content in a namespace that does not exist (404) or is being deleted (403)."""
    try:
        ns = ctx.store.get(NAMESPACE.resource, "", namespace)
    except NotFound:
        raise NotFound(
            f'namespaces "{namespace}" not found', kind=NAMESPACE.plural, name=namespace
        ) from None
    if ns["metadata"].get("deletionTimestamp"):
        why = (
            f"unable to create new content in namespace {namespace} because it is being terminated"
        )
        raise Forbidden(
            f'{kind.resource} "{name}" is forbidden: {why}',
            kind=kind.plural,
            group=kind.group,
            name=name,
            causes=[Cause("metadata.namespace", why, "NamespaceTerminating")],
        )


async def update(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """PUT an object (not its status): optimistic concurrency through resourceVersion."""
    kind, namespace, name = _item(target)
    obj = for_update(kind, parse_json_object(await read_body(request)), namespace, name)
    model, stored = validated(kind, obj)
    ctx.admit(kind, model, "UPDATE")
    keep_namespace_finalizer(kind, stored)
    if parse_dry_run(request.query_params):
        return JSONResponse(stored)
    return JSONResponse(ctx.store.update(kind.resource, stored))


async def update_status(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """PUT `/status`: only the status changes; the body's resourceVersion is the precondition."""
    kind, namespace, name = _item(target)
    body = parse_json_object(await read_body(request))
    current = ctx.store.get(kind.resource, namespace, name)
    _, stored = validated(kind, status_candidate(kind, current, body, namespace, name))
    if parse_dry_run(request.query_params):
        return JSONResponse(stored)
    return JSONResponse(ctx.store.update_status(kind.resource, stored))


async def patch(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """PATCH an object or its status with a JSON merge patch, validating the result."""
    kind, namespace, name = _item(target)
    body = parse_json_object(await _merge_patch_body(request, kind), what="patch")
    status_only = target.subresource == "status"
    dry_run = parse_dry_run(request.query_params)
    for _ in range(PATCH_ATTEMPTS):
        current = ctx.store.get(kind.resource, namespace, name)
        model, stored = validated(kind, patch_candidate(current, body, status_only=status_only))
        if not status_only:
            ctx.admit(kind, model, "UPDATE")
            keep_namespace_finalizer(kind, stored)
        if dry_run:
            return JSONResponse(stored)
        try:
            write = ctx.store.update_status if status_only else ctx.store.update
            return JSONResponse(write(kind.resource, stored))
        except Conflict:
            if _resource_version(body):
                raise  # the caller's own precondition failed: retrying would defeat it
    raise conflict(
        kind.resource,
        name,
        "the object kept changing while the patch was applied; please try again",
    )


async def _merge_patch_body(request: Request, kind: Kind) -> bytes:
    """The body of a merge patch; a strategic merge patch only for built-in kinds.

    kubectl sends a strategic merge patch for the kinds it knows (Namespace, RoleBinding, ...)
    and a JSON merge patch for custom ones. We read a strategic merge patch as a JSON merge
    patch: the two agree on maps and scalars, and differ only on lists with merge keys or
    merge strategies (`$patch`, `$setElementOrder/...` directives), which our built-in kinds'
    user-written fields do not use; a patch carrying such a directive is refused (400), never
    applied wrongly. Custom kinds refuse it with 415, as Kubernetes does for custom resources.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accepted = MERGE_PATCH_TYPES if kind.group == API_GROUP else (*MERGE_PATCH_TYPES, STRATEGIC)
    if content_type not in accepted:
        raise UnsupportedMediaType(
            f'the body of the request was in an unsupported format ("{content_type}") - '
            f"accepted media types include: {', '.join(accepted)} "
            f"(a JSON merge patch; with kubectl use --type merge)"
        )
    raw = await read_body(request)
    if content_type == STRATEGIC:
        _refuse_directives(parse_json_object(raw, what="patch"))
    return raw


def _refuse_directives(value: Any, where: str = "") -> None:
    """`BadRequest` naming the first strategic-merge directive (a `$...` key) in a patch."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).startswith("$"):
                raise BadRequest(
                    f"strategic merge patch directive {key!r} at {where or '.'} is not "
                    "supported: patch with --type merge instead"
                )
            _refuse_directives(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_directives(item, f"{where}[{i}]")


async def delete(ctx: ApiContext, request: Request, target: ResourcePath) -> JSONResponse:
    """DELETE an object; a `DeleteOptions` body may carry resourceVersion/uid preconditions.

    With finalizers the object stays, marked with a deletionTimestamp; either way the answer
    is 200 with the object's resulting state (as Kubernetes does for custom resources).
    """
    kind, namespace, name = _item(target)
    raw = await read_body(request)
    options = parse_json_object(raw, what="DeleteOptions") if raw.strip() else {}
    preconditions = options.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise BadRequest("DeleteOptions.preconditions must be a JSON object")
    dry_run = parse_dry_run(request.query_params) or options.get("dryRun") == ["All"]
    if preconditions.get("uid") or dry_run:
        current = ctx.store.get(kind.resource, namespace, name)
        _check_uid(kind, current, preconditions.get("uid"))
        if dry_run:
            return JSONResponse(current)
    rv = preconditions.get("resourceVersion")
    return JSONResponse(
        ctx.store.delete(kind.resource, namespace, name, resource_version=str(rv) if rv else None)
    )


def _check_uid(kind: Kind, current: Mapping[str, Any], uid: Any) -> None:
    actual = current["metadata"].get("uid")
    if uid and uid != actual:
        name = current["metadata"].get("name", "")
        raise conflict(
            kind.resource,
            name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}",
        )


async def delete_collection(
    ctx: ApiContext, request: Request, target: ResourcePath
) -> JSONResponse:
    """DELETE a collection (optionally `?labelSelector=`): a list of what was deleted."""
    if request.query_params.get("fieldSelector"):
        # Refused rather than ignored: ignoring a filter on a delete would delete too much.
        raise BadRequest("fieldSelector is not supported when deleting a collection")
    if parse_dry_run(request.query_params):
        raise BadRequest("dryRun is not supported when deleting a collection")
    selector = request.query_params.get("labelSelector") or None
    deleted = ctx.store.delete_collection(
        target.kind.resource, target.namespace, label_selector=selector
    )
    return JSONResponse(list_body(target.kind, deleted, ctx.store.current_resource_version()))


def _item(target: ResourcePath) -> tuple[Kind, str, str]:
    assert target.name is not None and target.namespace is not None, "routing gives both"
    return target.kind, target.namespace, target.name


def _resource_version(patch_body: Mapping[str, Any]) -> bool:
    meta = patch_body.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))
