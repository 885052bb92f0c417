"""Route table validation and how a request names its service (pure, no sockets)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlkube.serving.routetable import (
    EndpointSpec,
    RevisionSpec,
    RouteTableError,
    ServiceSpec,
    parse_route_table,
    route_table_json,
    split_service_host,
    split_service_path,
)

GOOD: dict[str, Any] = {
    "services": [
        {
            "namespace": "team-a",
            "name": "iris",
            "revisions": [
                {
                    "name": "iris-00002",
                    "percent": 80,
                    "endpoints": [{"id": "iris-00002-0", "host": "127.0.0.1", "port": 40123}],
                },
                {"name": "iris-00001", "percent": 20},
            ],
        }
    ]
}


SVC0 = ("services", 0)
REV0 = (*SVC0, "revisions", 0)
EP0 = (*REV0, "endpoints", 0)


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_parses_a_table_and_fills_defaults() -> None:
    (svc,) = parse_route_table(GOOD)
    assert svc == ServiceSpec(
        "team-a",
        "iris",
        (
            RevisionSpec("iris-00002", 80, (EndpointSpec("iris-00002-0", "127.0.0.1", 40123),)),
            RevisionSpec("iris-00001", 20, ()),
        ),
        60.0,
    )
    assert svc.key == ("team-a", "iris")


def test_json_view_round_trips() -> None:
    specs = parse_route_table(GOOD)
    doc = route_table_json(specs)
    assert parse_route_table(doc) == specs
    assert doc["services"][0]["activation_timeout_s"] == 60.0  # type: ignore[index]


def test_empty_table_is_valid() -> None:
    assert parse_route_table({"services": []}) == ()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            (*REV0, "percent"),
            70,
            "team-a/iris must sum to 100, got 90",
        ),
        (
            (*REV0, "percent"),
            101,
            "revisions[0].percent: must be an integer 0..100",
        ),
        (
            (*REV0, "percent"),
            True,
            "revisions[0].percent: must be an integer",
        ),
        (
            (*REV0, "percent"),
            80.0,
            "revisions[0].percent: must be an integer",
        ),
        (
            (*SVC0, "revisions"),
            [],
            "revisions: must list at least one revision",
        ),
        ((*SVC0, "name"), "Iris", "services[0].name: must be a DNS-1123 label"),
        ((*SVC0, "namespace"), "a/b", "services[0].namespace: must be a DNS-1123 label"),
        ((*SVC0, "name"), KeyError, "services[0]: missing field name"),
        ((*SVC0, "replicas"), 3, "services[0]: unknown field replicas"),
        ((*SVC0, "activation_timeout_s"), 0, "activation_timeout_s: must be a number > 0"),
        ((*SVC0, "revisions", 1, "name"), "iris-00002", "revision names must be unique"),
        ((*EP0, "port"), 0, "endpoints[0].port: must be"),
        (
            (*EP0, "port"),
            "80",
            "endpoints[0].port: must be",
        ),
        ((*EP0, "host"), "", "endpoints[0].host: must be"),
        ((*EP0, "id"), "a b", "endpoints[0].id: must be"),
        (("services",), {}, "services: must be a list, got dict"),
    ],
)
def test_rejects_bad_tables_naming_the_field(
    path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(RouteTableError, match=None) as info:
        parse_route_table(with_change(path, value))
    assert message in str(info.value)


def test_rejects_duplicate_services_and_endpoint_ids() -> None:
    doc = copy.deepcopy(GOOD)
    doc["services"].append(copy.deepcopy(doc["services"][0]))
    with pytest.raises(RouteTableError, match=r"services\[1\]: duplicate service team-a/iris"):
        parse_route_table(doc)
    doc = copy.deepcopy(GOOD)
    eps = doc["services"][0]["revisions"][0]["endpoints"]
    eps.append({**eps[0], "port": 40124})
    with pytest.raises(RouteTableError, match="endpoint ids must be unique"):
        parse_route_table(doc)


@pytest.mark.parametrize("doc", [[], None, "x", {"services": [], "extra": 1}])
def test_rejects_a_non_table(doc: object) -> None:
    with pytest.raises(RouteTableError):
        parse_route_table(doc)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/serving/ns/svc/v2/models/m/infer", ("ns", "svc", "/v2/models/m/infer")),
        ("/serving/ns/svc/", ("ns", "svc", "/")),
        ("/serving/ns/svc", ("ns", "svc", "/")),
        ("/serving/ns/svc/v2/", ("ns", "svc", "/v2/")),
        ("/serving/ns", None),
        ("/serving/ns/", None),
        ("/serving//svc/x", None),
        ("/servingx/ns/svc", None),
        ("/v2/models", None),
        ("/", None),
    ],
)
def test_split_service_path(path: str, expected: tuple[str, str, str] | None) -> None:
    assert split_service_path(path) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("iris.team-a.example.com", ("team-a", "iris")),
        ("iris.team-a.svc.cluster.local:8080", ("team-a", "iris")),
        ("IRIS.Team-A.local", ("team-a", "iris")),
        ("iris.team-a", None),
        ("localhost:8080", None),
        ("127.0.0.1:8080", None),
        ("[::1]:8080", None),
        ("iris..example.com", None),
        ("", None),
    ],
)
def test_split_service_host(host: str, expected: tuple[str, str] | None) -> None:
    assert split_service_host(host) == expected
