"""Patches as the fake kube-apiserver applies them (pure functions).

JSON merge patches (RFC 7386) are exact. Strategic merge patches, which kubectl sends for
built-in kinds, are approximated: maps merge as in a merge patch; a list whose patch elements
all carry a merge key (`name`, `containerPort`, `port`, `uid`, `type`: the keys the built-in
kinds' lists merge on) is merged element by element, honouring `$patch: delete` on an element
and `$setElementOrder/<list>`; any other list is replaced whole; `$retainKeys` is ignored and
`$deleteFromPrimitiveList/<list>` removes values. Upstream decides the merge key per field from
the schema; guessing it from the elements is right for every list the fake's users patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mlkube.api.errors import BadRequest
from mlkube.store.merge_patch import apply_merge_patch

MERGE_KEYS = ("name", "containerPort", "port", "uid", "type")
_ORDER, _DELETE_PRIMITIVES = "$setElementOrder/", "$deleteFromPrimitiveList/"


def strategic_merge(target: Any, patch: Any) -> Any:
    """`target` with a strategic merge patch applied (approximated, see the module doc)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    orders = {k.removeprefix(_ORDER): v for k, v in patch.items() if k.startswith(_ORDER)}
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            field = key.removeprefix(_DELETE_PRIMITIVES)
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key.startswith("$"):
            continue  # ordering and retainKeys directives change no values
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, orders.get(key))
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    return next((k for k in MERGE_KEYS if all(k in i for i in items)), None)


def _merge_list(current: Any, patch: list[Any], order: list[Any] | None) -> list[Any]:
    key = _merge_key(patch)
    if key is None or not isinstance(current, list) or _merge_key(current) != key:
        return [strategic_merge(None, item) for item in patch if _kept(item)]
    merged = {item[key]: item for item in current}
    for item in patch:
        if item.get("$patch") == "delete":
            merged.pop(item[key], None)
        else:
            merged[item[key]] = strategic_merge(merged.get(item[key]), item)
    if order:
        wanted = [o.get(key) for o in order if isinstance(o, dict)]
        ranked = {k: i for i, k in enumerate(wanted)}
        return sorted(merged.values(), key=lambda i: ranked.get(i[key], len(ranked)))
    return list(merged.values())


def _kept(item: Any) -> bool:
    return not (isinstance(item, dict) and item.get("$patch") == "delete")


def patched(
    current: Mapping[str, Any], patch: Mapping[str, Any], *, strategic: bool, status_only: bool
) -> dict[str, Any]:
    """The object a patch of the main resource (or of `/status`) would leave.

    The main resource ignores changes to `status` and `/status` ignores everything else, as
    in Kubernetes. A `metadata.resourceVersion` in the patch is the precondition, else the
    current one is. A rename is refused.
    """
    merge = strategic_merge if strategic else apply_merge_patch
    merged = merge(copy.deepcopy(dict(current)), copy.deepcopy(dict(patch)))
    if not isinstance(merged.get("metadata"), dict):
        raise BadRequest("a patch must not remove metadata")
    if status_only:
        candidate = copy.deepcopy(dict(current))
        candidate["status"] = merged.get("status")
    else:
        candidate = merged
        candidate["status"] = current.get("status")
    if candidate["status"] is None:
        del candidate["status"]
    meta, old = candidate["metadata"], current["metadata"]
    for key in ("name", "namespace"):
        if meta.get(key) != old.get(key):
            raise BadRequest(f"metadata.{key} cannot be changed by a patch")
    patch_meta = patch.get("metadata")
    wanted = patch_meta.get("resourceVersion") if isinstance(patch_meta, dict) else None
    meta["resourceVersion"] = wanted or old.get("resourceVersion")
    return candidate
