"""The URL grammar of the API: which kind, namespace, name and subresource a path addresses."""

from __future__ import annotations

import pytest

from mlkube.api.kinds import NAMESPACE, PIPELINE, PIPELINE_RUN
from mlkube.server.routing import (
    ResourcePath,
    parse_resource_path,
    subresources,
    verb_for,
    verbs,
)

GV = "/apis/mlkube.io/v1alpha1"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/namespaces", ResourcePath(NAMESPACE, "")),
        ("/api/v1/namespaces/team", ResourcePath(NAMESPACE, "", "team")),
        ("/api/v1/namespaces/team/", ResourcePath(NAMESPACE, "", "team")),
        ("/api/v1/namespaces/team/status", ResourcePath(NAMESPACE, "", "team", "status")),
        (f"{GV}/pipelineruns", ResourcePath(PIPELINE_RUN, None)),
        (f"{GV}/namespaces/team/pipelineruns", ResourcePath(PIPELINE_RUN, "team")),
        (f"{GV}/namespaces/team/pipelineruns/r1", ResourcePath(PIPELINE_RUN, "team", "r1")),
        (
            f"{GV}/namespaces/team/pipelineruns/r1/status",
            ResourcePath(PIPELINE_RUN, "team", "r1", "status"),
        ),
        (
            f"{GV}/namespaces/team/pipelineruns/r1/log",
            ResourcePath(PIPELINE_RUN, "team", "r1", "log"),
        ),
        (f"{GV}/namespaces/team/pipelines/p", ResourcePath(PIPELINE, "team", "p")),
    ],
)
def test_paths_that_name_a_resource(path: str, expected: ResourcePath) -> None:
    assert parse_resource_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/api/v2/namespaces",
        "/api/v1/pipelineruns",  # our kinds are not in the core group
        "/apis/mlkube.io/v1beta1/pipelineruns",
        "/apis/other.io/v1alpha1/pipelineruns",
        f"{GV}/widgets",
        f"{GV}/pipelineruns/r1",  # a namespaced kind needs its namespace
        f"{GV}/namespaces/team",  # namespaces are served in the core group only
        f"{GV}/namespaces/team/pipelineruns/r1/scale",
        f"{GV}/namespaces/team/pipelines/p/log",  # only runs have logs
        f"{GV}/namespaces/team/pipelines/p/status",  # pipelines have no status
        f"{GV}/namespaces/team/pipelineruns/r1/status/extra",
        f"{GV}/namespaces//pipelineruns",
        "/api/v1/namespaces/team/finalize",
    ],
)
def test_paths_that_name_nothing(path: str) -> None:
    assert parse_resource_path(path) is None


@pytest.mark.parametrize(
    ("path", "method", "verb"),
    [
        (f"{GV}/namespaces/t/pipelineruns", "GET", "list"),
        (f"{GV}/namespaces/t/pipelineruns", "POST", "create"),
        (f"{GV}/namespaces/t/pipelineruns", "DELETE", "deletecollection"),
        (f"{GV}/namespaces/t/pipelineruns", "PUT", None),
        (f"{GV}/pipelineruns", "GET", "list"),
        (f"{GV}/pipelineruns", "POST", None),  # the all-namespaces list is read-only
        (f"{GV}/pipelineruns", "DELETE", None),
        (f"{GV}/namespaces/t/pipelineruns/r", "PATCH", "patch"),
        (f"{GV}/namespaces/t/pipelineruns/r", "POST", None),
        (f"{GV}/namespaces/t/pipelineruns/r/status", "PUT", "update"),
        (f"{GV}/namespaces/t/pipelineruns/r/status", "DELETE", None),
        (f"{GV}/namespaces/t/pipelineruns/r/log", "GET", "get"),
        (f"{GV}/namespaces/t/pipelineruns/r/log", "PUT", None),
        ("/api/v1/namespaces", "DELETE", None),  # no deletecollection of namespaces
        ("/api/v1/namespaces/t", "DELETE", "delete"),
    ],
)
def test_verbs_by_method(path: str, method: str, verb: str | None) -> None:
    target = parse_resource_path(path)
    assert target is not None
    assert verb_for(target, method) == verb


def test_discovery_verbs_and_subresources() -> None:
    assert "deletecollection" not in verbs(NAMESPACE)
    assert set(verbs(PIPELINE_RUN)) == {
        "list",
        "watch",
        "create",
        "deletecollection",
        "get",
        "update",
        "patch",
        "delete",
    }
    assert set(subresources(PIPELINE_RUN)) == {"status", "log"}
    assert subresources(PIPELINE) == {}
