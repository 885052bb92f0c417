"""A checker for Kubernetes' structural-schema rules, and a jsonschema view of a CRD schema.

Rules, from "Specifying a structural schema" in the Kubernetes CRD docs:
1. every node (root, each `properties` value, `additionalProperties`, `items`) has a non-empty
   `type`, unless it sets `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`;
2. `allOf`/`anyOf`/`oneOf`/`not` carry no `type`, `description`, `default`,
   `additionalProperties` or `nullable` (here: they appear only in the int-or-string form);
3. `metadata` restricts at most `name` and `generateName` (here: it is bare `type: object`);
plus what the apiserver refuses outright: `$ref`, `properties` next to `additionalProperties`,
`uniqueItems: true`, draft-2020 numeric `exclusiveMinimum`.
"""

from __future__ import annotations

from typing import Any

INT_OR_STRING = "x-kubernetes-int-or-string"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")


def structural_errors(schema: dict[str, Any]) -> list[str]:
    """Every rule the schema breaks, as `path: reason`; empty when it is structural."""
    errors: list[str] = []
    props = schema.get("properties", {})
    if props.get("metadata", {"type": "object"}) != {"type": "object"}:
        errors.append("metadata: must be plain `type: object`")
    _check(schema, "", errors)
    return errors


def _check(node: dict[str, Any], path: str, errors: list[str]) -> None:
    exempt = node.get(INT_OR_STRING) or node.get(PRESERVE)
    if not node.get("type") and not exempt:
        errors.append(f"{path or '<root>'}: no type")
    for key in ("$ref", "$defs", "definitions", "title", "default", "const"):
        if key in node:
            errors.append(f"{path}: {key} is not allowed here")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"{path}: properties and additionalProperties together")
    if not isinstance(node.get("additionalProperties", {}), dict):
        errors.append(f"{path}: additionalProperties must be a schema")
    if node.get("uniqueItems"):
        errors.append(f"{path}: uniqueItems: true is forbidden")
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], bool):
            errors.append(f"{path}: {key} must be a boolean (OpenAPI v3)")
    if node.get("nullable") and not (node.get("type") or exempt):
        errors.append(f"{path}: nullable without a type")
    _check_junctors(node, path, errors)
    for name, sub in node.get("properties", {}).items():
        _check(sub, f"{path}.{name}", errors)
    if isinstance(node.get("additionalProperties"), dict):
        _check(node["additionalProperties"], f"{path}[*]", errors)
    if "items" in node:
        _check(node["items"], f"{path}[]", errors)


def _check_junctors(node: dict[str, Any], path: str, errors: list[str]) -> None:
    for key in JUNCTORS:
        if key not in node:
            continue
        if node.get(INT_OR_STRING) and key == "anyOf":
            if node[key] != [{"type": "integer"}, {"type": "string"}]:
                errors.append(f"{path}: int-or-string anyOf must be [integer, string]")
            continue
        errors.append(f"{path}: {key} outside the int-or-string form")


def as_jsonschema(node: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    """A Draft 4 JSON Schema that accepts what the apiserver's validation accepts.

    `nullable` becomes a `null` type. With `strict`, objects with `properties` refuse unknown
    fields, as the apiserver does under strict field validation (otherwise it prunes them).
    """
    out = {
        k: v for k, v in node.items() if k not in ("properties", "items", "additionalProperties")
    }
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    if "properties" in node:
        out["properties"] = {
            k: as_jsonschema(v, strict=strict) for k, v in node["properties"].items()
        }
        if strict and not node.get(PRESERVE):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = as_jsonschema(node["additionalProperties"], strict=strict)
    if "items" in node:
        out["items"] = as_jsonschema(node["items"], strict=strict)
    return out
