"""The OpenAPI v3 documents kubectl reads, and strategic merge patches (no kubectl needed)."""

from __future__ import annotations

import json

from mlkube.api.kinds import NAMESPACE, PIPELINE_RUN
from mlkube.server import openapi


def test_index_points_at_every_group_version() -> None:
    paths = openapi.index()["paths"]
    assert set(paths) >= {"api/v1", "apis/mlkube.io/v1alpha1", "apis/rbac.authorization.k8s.io/v1"}
    url = paths["apis/mlkube.io/v1alpha1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/mlkube.io/v1alpha1?hash=")
    assert openapi.document_for_path("apis/nope/v1") is None


def test_patch_operations_declare_field_validation_and_merge_patch_only() -> None:
    doc = openapi.document_for_path("api/v1")
    assert doc is not None
    op = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Namespace",
    }
    assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in op[
        "parameters"
    ]
    # No strategic-merge media type: kubectl then uses its own Go types for built-in kinds.
    assert list(op["requestBody"]["content"]) == ["application/merge-patch+json"]
    assert openapi.schema_name(NAMESPACE) in doc["components"]["schemas"]


def test_schemas_are_in_the_openapi_3_0_dialect() -> None:
    doc = openapi.document("mlkube.io", "v1alpha1")
    text = json.dumps(doc)
    assert '"$defs"' not in text and '"const"' not in text
    schema = doc["components"]["schemas"][openapi.schema_name(PIPELINE_RUN)]
    assert schema["x-kubernetes-group-version-kind"][0]["kind"] == "PipelineRun"
    assert openapi.openapi_30({"exclusiveMinimum": 0}) == {"minimum": 0, "exclusiveMinimum": True}
    assert openapi.openapi_30({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == {
        "nullable": True,
        "type": "integer",
    }
