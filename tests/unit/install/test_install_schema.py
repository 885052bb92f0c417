"""The pydantic-to-structural-schema rewrite, on small models."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from mlkube.api.resources import Quantity
from mlkube.install.schema import (
    INT_OR_STRING,
    KUBERNETES_QUANTITY_PATTERN,
    PRESERVE_UNKNOWN,
    UnsupportedSchema,
    structural_schema,
)
from tests.unit.install.structural import structural_errors


class Inner(BaseModel):
    """Docs of the inner model."""

    n: int = Field(default=1, gt=0, le=5)


class Sample(BaseModel):
    name: str = Field(min_length=1, alias="theName")
    mode: Literal["a", "b"] = "a"
    fixed: Literal["only"] = "only"
    inner: Inner | None = None
    anything: Any = None
    labels: dict[str, str] = Field(default_factory=dict)
    blobs: dict[str, Any] = Field(default_factory=dict)
    cpu: Quantity | None = None


def test_rewrites_to_a_structural_schema() -> None:
    schema = structural_schema(Sample)
    props = schema["properties"]
    assert structural_errors(schema) == []
    assert schema["required"] == ["theName"]
    assert props["theName"] == {"type": "string", "minLength": 1}
    assert props["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert props["fixed"]["enum"] == ["only"]
    assert props["inner"] == {
        "description": "Docs of the inner model.",
        "type": "object",
        "nullable": True,
        "properties": {
            "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 5}
        },
    }
    assert props["anything"] == {PRESERVE_UNKNOWN: True}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["blobs"] == {"type": "object", PRESERVE_UNKNOWN: True}
    assert props["cpu"] == {
        "nullable": True,
        "pattern": KUBERNETES_QUANTITY_PATTERN,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        INT_OR_STRING: True,
    }


def test_no_titles_or_defaults_survive() -> None:
    text = repr(structural_schema(Sample))
    assert "'title'" not in text and "'default'" not in text


class Union(BaseModel):
    value: int | str


class Node(BaseModel):
    children: list[Node] = Field(default_factory=list)


class Unique(BaseModel):
    tags: set[str]


@pytest.mark.parametrize(
    ("model", "message"),
    [(Union, "union of 2"), (Node, "recursive"), (Unique, "uniqueItems")],
)
def test_unsupported_shapes_fail_loudly(model: type[BaseModel], message: str) -> None:
    with pytest.raises(UnsupportedSchema, match=message):
        structural_schema(model)
