"""Pydantic models to Kubernetes *structural* OpenAPI v3 schemas, for CustomResourceDefinitions.

The CRD schema is generated from the same models the embedded API validates with, then rewritten
to the subset Kubernetes accepts (a "structural schema"): every node has a `type`, no `$ref`,
no `anyOf` that carries types, `properties` and `additionalProperties` never together.

Decisions, each visible in the output:

- `$ref`/`$defs` are inlined (Kubernetes has no references); a recursive model is an error.
- `anyOf: [X, null]` becomes X with `nullable: true`. Any other union is an error, so a new
  model shape fails generation loudly instead of producing a schema Kubernetes would refuse.
- `Literal` fields keep pydantic's `enum` (a single-value `const` becomes a one-value `enum`).
- `Any` fields become `x-kubernetes-preserve-unknown-fields: true`: any JSON value is kept.
- Resource quantities become `x-kubernetes-int-or-string` with Kubernetes' own quantity pattern,
  exactly as controller-gen renders `resource.Quantity`. The API also accepts a float (`0.5`);
  Kubernetes does not, so on a cluster write `"500m"` or `"0.5"`.
- `title` and every `default` are dropped. The models are the one source of defaults (the
  operator parses objects with them); apiserver defaulting would apply them a second time, must
  itself validate against the schema, and `default: null` is never valid. Users therefore read
  back what they wrote, without the filled-in defaults the embedded store shows.
- `additionalProperties: false` (our models forbid unknown fields) is dropped: Kubernetes forbids
  it next to `properties`. The apiserver prunes unknown fields instead, and rejects them when the
  client asks for strict field validation (kubectl's default, `--validate=strict`).
- Constraints pydantic emits in JSON Schema 2020-12 form are rewritten to OpenAPI v3's draft-4
  form (`exclusiveMinimum: 0` becomes `minimum: 0` with `exclusiveMinimum: true`).
- A keyword this module does not know is an error, never silently dropped.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mlkube.api.resources import Quantity

# Kubernetes' `resource.Quantity` pattern, as controller-gen writes it into CRDs.
KUBERNETES_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
INT_OR_STRING = "x-kubernetes-int-or-string"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"

_QUANTITY_CHECK = get_args(Quantity)[1].func
# Output key order, for a readable YAML: what a node is first, its children last.
_ORDER = (
    "description",
    "type",
    "format",
    "nullable",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "anyOf",
    INT_OR_STRING,
    PRESERVE_UNKNOWN,
    "required",
    "properties",
    "additionalProperties",
    "items",
)
_DROPPED = frozenset({"title", "default", "examples"})
_HANDLED = frozenset(
    {"$ref", "anyOf", "const", "properties", "additionalProperties", "items"}
    | {"exclusiveMinimum", "exclusiveMaximum"}
)
_KEPT = frozenset(_ORDER) - _HANDLED


class UnsupportedSchema(ValueError):
    """A model shape that has no structural-schema equivalent; the message names where."""


class _KubernetesJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, but quantities come out the way Kubernetes writes them."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        if schema["function"]["function"] is _QUANTITY_CHECK:
            return {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": KUBERNETES_QUANTITY_PATTERN,
                INT_OR_STRING: True,
            }
        return super().function_before_schema(schema)


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of `model` (by alias, as a client would write it).

    Raises `UnsupportedSchema` when a field cannot be expressed structurally.
    """
    raw = model.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_KubernetesJsonSchema
    )
    return _convert(raw, raw.get("$defs", {}), path=model.__name__, seen=())


def _convert(
    node: dict[str, Any], defs: dict[str, Any], *, path: str, seen: tuple[str, ...]
) -> dict[str, Any]:
    node = {k: v for k, v in node.items() if k != "$defs"}
    if "$ref" in node:
        return _convert(
            _resolve(node, defs, path, seen), defs, path=path, seen=(*seen, node["$ref"])
        )
    if "anyOf" in node and not node.get(INT_OR_STRING):
        return _convert(_collapse_any_of(node, path), defs, path=path, seen=seen)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _KEPT:
            out[key] = value
        elif key not in _DROPPED | _HANDLED:
            raise UnsupportedSchema(f"{path}: JSON Schema keyword {key!r} is not supported")
    if node.get(INT_OR_STRING):
        out["anyOf"] = node["anyOf"]
    if "const" in node:
        out["enum"] = [node["const"]]
    _exclusive_bounds(node, out)
    _children(node, out, defs, path=path, seen=seen)
    if "type" not in out and not out.get(INT_OR_STRING):
        out[PRESERVE_UNKNOWN] = True  # `Any`: keep whatever JSON the user wrote
    return {key: out[key] for key in _ORDER if key in out}


def _resolve(
    node: dict[str, Any], defs: dict[str, Any], path: str, seen: tuple[str, ...]
) -> dict[str, Any]:
    ref = node["$ref"]
    if ref in seen:
        raise UnsupportedSchema(f"{path}: recursive model {ref} cannot be inlined")
    target = dict(defs[ref.removeprefix("#/$defs/")])
    # A description next to the reference describes the field; prefer it to the model's.
    target.update({k: v for k, v in node.items() if k != "$ref"})
    return target


def _collapse_any_of(node: dict[str, Any], path: str) -> dict[str, Any]:
    options = node["anyOf"]
    non_null = [o for o in options if o != {"type": "null"}]
    if len(non_null) != 1:
        raise UnsupportedSchema(f"{path}: a union of {len(non_null)} types is not structural")
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    inner = non_null[0]
    if "$ref" in inner:
        merged["$ref"] = inner["$ref"]
    else:
        merged = {**inner, **merged}
    if len(non_null) < len(options):
        merged["nullable"] = True
    return merged


def _exclusive_bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if exclusive in node:
            out[bound] = node[exclusive]
            out[exclusive] = True


def _children(
    node: dict[str, Any],
    out: dict[str, Any],
    defs: dict[str, Any],
    *,
    path: str,
    seen: tuple[str, ...],
) -> None:
    if "properties" in node:
        out["properties"] = {
            name: _convert(sub, defs, path=f"{path}.{name}", seen=seen)
            for name, sub in node["properties"].items()
        }
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" not in node:
        out["additionalProperties"] = _convert(extra, defs, path=f"{path}[*]", seen=seen)
    elif extra is True and "properties" not in node:
        out[PRESERVE_UNKNOWN] = True
    if "items" in node:
        out["items"] = _convert(node["items"], defs, path=f"{path}[]", seen=seen)
