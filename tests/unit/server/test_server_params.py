"""Query parameters are parsed strictly: a bad value is a 400 naming it, never a default."""

from __future__ import annotations

import pytest

from mlkube.api.errors import BadRequest
from mlkube.server.params import (
    parse_bool,
    parse_dry_run,
    parse_field_selector,
    parse_int,
    parse_resource_version,
)


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("1", True), ("False", False), ("", False)]
)
def test_bools_as_go_reads_them(text: str, value: bool) -> None:
    assert parse_bool({"watch": text}, "watch") is value
    assert parse_bool({}, "watch") is False


def test_bad_bool_names_the_parameter() -> None:
    with pytest.raises(BadRequest, match="watch"):
        parse_bool({"watch": "yes"}, "watch")


def test_ints() -> None:
    assert parse_int({"timeoutSeconds": "30"}, "timeoutSeconds") == 30
    assert parse_int({}, "timeoutSeconds") is None
    with pytest.raises(BadRequest, match="tailLines"):
        parse_int({"tailLines": "ten"}, "tailLines")
    with pytest.raises(BadRequest, match="at least 1"):
        parse_int({"attempt": "0"}, "attempt", minimum=1)


@pytest.mark.parametrize(("text", "start"), [("", None), ("0", None), ("17", 17)])
def test_resource_versions(text: str, start: int | None) -> None:
    assert parse_resource_version({"resourceVersion": text}) == start


def test_bad_resource_version() -> None:
    with pytest.raises(BadRequest, match="abc"):
        parse_resource_version({"resourceVersion": "abc"})


def test_dry_run_all_only() -> None:
    assert parse_dry_run({"dryRun": "All"}) is True
    assert parse_dry_run({}) is False
    with pytest.raises(BadRequest, match="dryRun"):
        parse_dry_run({"dryRun": "true"})


def obj(name: str, namespace: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}}


def test_field_selectors() -> None:
    by_name = parse_field_selector("metadata.name=a")
    assert by_name(obj("a", "x")) and not by_name(obj("b", "x"))
    not_here = parse_field_selector("metadata.namespace!=x, metadata.name==b")
    assert not_here(obj("b", "y")) and not not_here(obj("b", "x")) and not not_here(obj("a", "y"))
    assert parse_field_selector("")(obj("a", "x"))


@pytest.mark.parametrize(
    ("text", "message"), [("spec.x=1", "not supported"), ("metadata.name", "field=value")]
)
def test_bad_field_selectors(text: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_field_selector(text)
