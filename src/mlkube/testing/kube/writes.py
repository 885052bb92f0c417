"""Request handlers of the fake kube-apiserver that write: create, update, patch, delete.

Each write defaults (on create) and validates the exact object it is about to store, so a
refused request changes nothing; then one store call does it, with the store's optimistic
concurrency, finalizers and watch events.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mlkube.api.errors import BadRequest, Cause, Conflict, NotFound, UnsupportedMediaType
from mlkube.server.body import read_body
from mlkube.server.objects import parse_json_object
from mlkube.server.params import parse_dry_run
from mlkube.store.base import ResourceStore
from mlkube.store.objects import conflict
from mlkube.testing.kube.context import FakeApiContext
from mlkube.testing.kube.defaults import defaulted
from mlkube.testing.kube.patching import patched
from mlkube.testing.kube.resources import NAMESPACE, SERVED, Served
from mlkube.testing.kube.routing import Target
from mlkube.testing.kube.validation import invalid

MERGE = ("application/merge-patch+json", "application/json")
STRATEGIC = "application/strategic-merge-patch+json"
PATCH_ATTEMPTS = 5
_SERVER_SET = (
    "uid",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def enveloped(served: Served, body: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """A copy of `body` with apiVersion/kind filled in and the URL's namespace checked."""
    obj = copy.deepcopy(dict(body))
    obj.setdefault("apiVersion", served.api_version)
    obj.setdefault("kind", served.kind)
    if (obj["apiVersion"], obj["kind"]) != (served.api_version, served.kind):
        raise BadRequest(
            f"the API version and kind in the data ({obj['apiVersion']}, {obj['kind']}) do not "
            f"match the expected ones ({served.api_version}, {served.kind})"
        )
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be a JSON object")
    if not served.namespaced:
        meta.pop("namespace", None)
    elif meta.get("namespace") not in (None, "", namespace):
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    else:
        meta["namespace"] = namespace
    return obj


async def create(ctx: FakeApiContext, request: Request, target: Target) -> JSONResponse:
    """POST a collection: defaults, validation, then 201 with the stored object."""
    served, namespace = target.served, target.namespace or ""
    obj = enveloped(served, parse_json_object(await read_body(request)), namespace)
    meta = obj["metadata"]
    if meta.get("resourceVersion"):
        raise BadRequest("resourceVersion should not be set on objects to be created")
    for key in _SERVER_SET:
        meta.pop(key, None)
    if served.has_status:
        obj.pop("status", None)
    if served.namespaced:
        check_namespace(ctx.store, namespace)
    stored = ctx.validate(served, defaulted(served.kind, obj))
    await _admit(ctx, request, target, stored, operation="CREATE")
    if parse_dry_run(request.query_params):
        return JSONResponse(stored, status_code=201)
    return JSONResponse(ctx.store.create(served.resource, stored), status_code=201)


def check_namespace(store: ResourceStore, namespace: str) -> None:
    """Objects may only be created in a namespace that exists (404 otherwise)."""
    try:
        store.get(NAMESPACE.resource, "", namespace)
    except NotFound:
        raise NotFound(
            f'namespaces "{namespace}" not found', kind="namespaces", name=namespace
        ) from None


async def update(ctx: FakeApiContext, request: Request, target: Target) -> JSONResponse:
    """PUT an object (the store keeps its status) or, for `/status`, only its status."""
    served, namespace, name = _item(target)
    body = enveloped(served, parse_json_object(await read_body(request)), namespace)
    if body["metadata"].setdefault("name", name) != name:
        raise BadRequest(
            f"the name of the object ({body['metadata']['name']}) "
            f"does not match the name on the URL ({name})"
        )
    if target.subresource == "scale":
        return await _update_scale(ctx, target, body)
    if target.subresource == "status":
        current = ctx.store.get(served.resource, namespace, name)
        candidate = copy.deepcopy(current)
        candidate["status"] = body.get("status")
        for key in ("resourceVersion", "uid"):
            candidate["metadata"][key] = body["metadata"].get(key) or None
        stored = ctx.validate(served, _without_nulls(candidate))
        write = ctx.store.update_status
        await _admit(ctx, request, target, stored, old=current)
    else:
        stored = ctx.validate(served, body)
        write = ctx.store.update
        await _admit(
            ctx, request, target, stored, old=ctx.store.get(served.resource, namespace, name)
        )
    if parse_dry_run(request.query_params):
        return JSONResponse(stored)
    return JSONResponse(write(served.resource, stored))


async def _admit(
    ctx: FakeApiContext,
    request: Request,
    target: Target,
    obj: Mapping[str, Any],
    *,
    operation: str = "UPDATE",
    old: Mapping[str, Any] | None = None,
) -> None:
    """Run the validating admission webhooks on the object about to be written (`webhooks`)."""
    await ctx.webhooks.review(
        ctx.store,
        target.served,
        operation=operation,
        obj=obj,
        old=old,
        subresource=target.subresource,
        dry_run=parse_dry_run(request.query_params),
    )


def _without_nulls(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if v is not None}
    if obj.get("status") is None:
        obj.pop("status", None)
    return obj


async def patch(ctx: FakeApiContext, request: Request, target: Target) -> JSONResponse:
    """PATCH with a JSON merge patch or (built-in kinds) an approximated strategic one."""
    served, namespace, name = _item(target)
    strategic = _patch_type(request, served)
    body = parse_json_object(await read_body(request), what="patch")
    if target.subresource == "scale":
        current = scale_of(ctx.store.get(served.resource, namespace, name))
        merged = patched(current, body, strategic=strategic, status_only=False)
        if not _resource_version(body):
            del merged["metadata"]["resourceVersion"]  # unconditional, as the patch asked
        return await _update_scale(ctx, target, merged)
    status_only = target.subresource == "status"
    for _ in range(PATCH_ATTEMPTS):
        current = ctx.store.get(served.resource, namespace, name)
        candidate = patched(current, body, strategic=strategic, status_only=status_only)
        stored = ctx.validate(served, candidate)
        await _admit(ctx, request, target, stored, old=current)
        if parse_dry_run(request.query_params):
            return JSONResponse(stored)
        write = ctx.store.update_status if status_only else ctx.store.update
        try:
            return JSONResponse(write(served.resource, stored))
        except Conflict:
            if _resource_version(body):
                raise  # the caller's own precondition failed
    raise conflict(served.resource, name, "the object kept changing; please try again")


def _resource_version(patch_body: Mapping[str, Any]) -> bool:
    meta = patch_body.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))


def _patch_type(request: Request, served: Served) -> bool:
    """True for a strategic merge patch; refuses the patch types the fake does not apply."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accepted = MERGE if served.crd is not None else (*MERGE, STRATEGIC)
    if content_type not in accepted:
        raise UnsupportedMediaType(
            f'the body of the request was in an unsupported format ("{content_type}"): the '
            f"fake kube-apiserver accepts {', '.join(accepted)} "
            "(no JSON patch, no server-side apply)"
        )
    return content_type == STRATEGIC


def scale_of(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 `Scale` view of a Deployment."""
    meta = deployment["metadata"]
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (deployment.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (deployment.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


async def _update_scale(
    ctx: FakeApiContext, target: Target, scale: Mapping[str, Any]
) -> JSONResponse:
    served, namespace, name = _item(target)
    replicas = (scale.get("spec") or {}).get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise _invalid_replicas(served, name, replicas)
    wanted = (scale.get("metadata") or {}).get("resourceVersion")
    for _ in range(PATCH_ATTEMPTS):
        current = ctx.store.get(served.resource, namespace, name)
        candidate = copy.deepcopy(current)
        candidate["spec"]["replicas"] = replicas
        candidate["metadata"]["resourceVersion"] = wanted or current["metadata"]["resourceVersion"]
        try:
            return JSONResponse(
                scale_of(ctx.store.update(served.resource, ctx.validate(served, candidate)))
            )
        except Conflict:
            if wanted:
                raise  # the caller's own precondition failed
    raise conflict(served.resource, name, "the object kept changing; please try again")


def _invalid_replicas(served: Served, name: str, replicas: Any) -> Exception:
    """The 422 for a `/scale` write whose replicas is not a non-negative integer."""
    cause = Cause(
        "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0"
    )
    return invalid(served, name, [cause])


async def delete(ctx: FakeApiContext, request: Request, target: Target) -> JSONResponse:
    """DELETE an object: finalizers honoured, dependents left to the garbage collector (or,
    with `propagationPolicy: Orphan`, released from their owner first)."""
    served, namespace, name = _item(target)
    raw = await read_body(request)
    options = parse_json_object(raw, what="DeleteOptions") if raw.strip() else {}
    policy = options.get("propagationPolicy") or request.query_params.get("propagationPolicy")
    preconditions = options.get("preconditions") or {}
    current = ctx.store.get(served.resource, namespace, name)
    uid = preconditions.get("uid")
    if uid and uid != current["metadata"].get("uid"):
        raise conflict(
            served.resource,
            name,
            f"Precondition failed: UID in precondition: {uid}, "
            f"UID in object meta: {current['metadata'].get('uid')}",
        )
    if parse_dry_run(request.query_params):
        return JSONResponse(current)
    if policy == "Orphan":
        orphan_dependents(ctx.store, current["metadata"]["uid"])
    rv = preconditions.get("resourceVersion")
    return JSONResponse(
        ctx.store.delete(served.resource, namespace, name, resource_version=str(rv) if rv else None)
    )


def orphan_dependents(store: ResourceStore, owner_uid: str) -> None:
    """Remove the owner reference to `owner_uid` from every object that has one."""
    for served in SERVED:
        for obj in store.list(served.resource)[0]:
            refs = obj["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != owner_uid]
            if len(kept) != len(refs):
                meta = obj["metadata"]
                store.patch(
                    served.resource,
                    meta.get("namespace", ""),
                    meta["name"],
                    {"metadata": {"ownerReferences": kept or None}},
                )


async def delete_collection(ctx: FakeApiContext, request: Request, target: Target) -> JSONResponse:
    """DELETE a collection, optionally filtered by `labelSelector`."""
    if request.query_params.get("fieldSelector"):
        raise BadRequest("fieldSelector is not supported when deleting a collection")
    selector = request.query_params.get("labelSelector") or None
    deleted = ctx.store.delete_collection(
        target.served.resource, target.namespace, label_selector=selector
    )
    return JSONResponse(
        {
            "apiVersion": target.served.api_version,
            "kind": f"{target.served.kind}List",
            "metadata": {"resourceVersion": str(ctx.store.current_resource_version())},
            "items": deleted,
        }
    )


def _item(target: Target) -> tuple[Served, str, str]:
    assert target.name is not None and target.namespace is not None, "routing gives both"
    return target.served, target.namespace, target.name


def create_object(ctx: FakeApiContext, served: Served, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Create as a POST would (defaults, validation, namespace check), for the controllers."""
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    if served.namespaced:
        check_namespace(ctx.store, namespace)
    return ctx.store.create(served.resource, ctx.validate(served, defaulted(served.kind, obj)))
