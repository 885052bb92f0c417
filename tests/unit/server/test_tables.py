"""Server-side printing: which Accept headers get a Table, and what the Table holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlkube.api.errors import BadRequest
from mlkube.api.kinds import NAMESPACE, PIPELINE_RUN
from mlkube.server.tables import include_object, table, table_version

KUBECTL = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


@pytest.mark.parametrize(
    ("accept", "version"),
    [
        (KUBECTL, "v1"),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", "v1beta1"),
        ("application/json", None),
        ("", None),
        ("*/*", None),
        # A Table version we do not serve falls through to the next acceptable range.
        ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
        (
            "application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io",
            "v1",
        ),
        # Another group's Table, or another representation: plain objects.
        ("application/json;as=Table;v=v1;g=example.com,application/json", None),
        ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None),
        ("application/yaml;as=Table;v=v1;g=meta.k8s.io", None),
    ],
)
def test_which_accept_headers_get_a_table(accept: str, version: str | None) -> None:
    assert table_version(accept) == version


def test_include_object_is_checked() -> None:
    assert include_object({}) == "Metadata"
    assert include_object({"includeObject": "Object"}) == "Object"
    with pytest.raises(BadRequest, match="includeObject: unsupported value 'All'"):
        include_object({"includeObject": "All"})


RUN = {
    "apiVersion": "mlkube.io/v1alpha1",
    "kind": "PipelineRun",
    "metadata": {
        "name": "r1",
        "namespace": "team",
        "resourceVersion": "7",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app": "a"},
    },
    "status": {
        "phase": "Running",
        "startTime": "2026-01-01T00:00:00Z",
        "steps": [{"name": "a", "phase": "Succeeded"}, {"name": "b", "phase": "Running"}],
    },
}
NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_a_table_has_the_cli_columns_and_the_objects_metadata() -> None:
    got = table(
        PIPELINE_RUN, [RUN], version="v1", resource_version="9", include="Metadata", now=NOW
    )
    assert (got["kind"], got["apiVersion"], got["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "9"},
    )
    assert [c["name"] for c in got["columnDefinitions"]] == [
        "Name",
        "Phase",
        "Steps",
        "Duration",
        "Age",
    ]
    assert got["columnDefinitions"][0]["format"] == "name"
    (row,) = got["rows"]
    assert row["cells"] == ["r1", "Running", "1/2", "5m", "5m"]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": RUN["metadata"],
    }


def test_include_object_and_headers() -> None:
    whole = table(
        PIPELINE_RUN, [RUN], version="v1", resource_version="9", include="Object", now=NOW
    )
    assert whole["rows"][0]["object"] == RUN
    bare = table(
        NAMESPACE, [RUN], version="v1", resource_version="9", include="None", headers=False
    )
    assert bare["columnDefinitions"] == [] and "object" not in bare["rows"][0]
