"""The fake apiserver's strategic merge patch approximation, as a table of cases."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import BadRequest
from mlkube.testing.kube.patching import patched, strategic_merge

CONTAINERS = {
    "containers": [{"name": "a", "image": "x", "command": ["run"]}, {"name": "b", "image": "y"}]
}

CASES = [
    ("maps merge", {"a": {"b": 1}}, {"a": {"c": 2}}, {"a": {"b": 1, "c": 2}}),
    ("null removes", {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    (
        "lists merge by name",
        CONTAINERS,
        {"containers": [{"name": "a", "image": "z"}]},
        {
            "containers": [
                {"name": "a", "image": "z", "command": ["run"]},
                {"name": "b", "image": "y"},
            ]
        },
    ),
    (
        "$patch delete removes an element",
        CONTAINERS,
        {"containers": [{"name": "b", "$patch": "delete"}]},
        {"containers": [{"name": "a", "image": "x", "command": ["run"]}]},
    ),
    (
        "$setElementOrder orders the result",
        CONTAINERS,
        {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "z"}],
        },
        {
            "containers": [
                {"name": "b", "image": "y"},
                {"name": "a", "image": "z", "command": ["run"]},
            ]
        },
    ),
    (
        "lists without a merge key are replaced",
        {"args": ["1", "2"]},
        {"args": ["3"]},
        {"args": ["3"]},
    ),
    (
        "$deleteFromPrimitiveList removes values",
        {"finalizers": ["a", "b"]},
        {"$deleteFromPrimitiveList/finalizers": ["a"]},
        {"finalizers": ["b"]},
    ),
    ("$retainKeys is ignored", {"a": 1}, {"$retainKeys": ["a"], "b": 2}, {"a": 1, "b": 2}),
]


@pytest.mark.parametrize(("why", "target", "patch", "expected"), CASES, ids=[c[0] for c in CASES])
def test_strategic_merge(why: str, target: Any, patch: Any, expected: Any) -> None:
    assert strategic_merge(target, patch) == expected


def test_strategic_merge_does_not_modify_its_arguments() -> None:
    target = {"containers": [{"name": "a", "image": "x"}]}
    patch = {"containers": [{"name": "a", "image": "z"}]}
    strategic_merge(target, patch)
    assert target == {"containers": [{"name": "a", "image": "x"}]}
    assert patch == {"containers": [{"name": "a", "image": "z"}]}


CURRENT = {
    "metadata": {"name": "n", "namespace": "d", "resourceVersion": "5"},
    "spec": {"a": 1},
    "status": {"s": 1},
}


def test_the_main_resource_ignores_status_and_status_ignores_the_rest() -> None:
    main = patched(
        CURRENT, {"spec": {"a": 2}, "status": {"s": 2}}, strategic=False, status_only=False
    )
    assert (main["spec"], main["status"]) == ({"a": 2}, {"s": 1})
    status = patched(
        CURRENT, {"spec": {"a": 2}, "status": {"s": 2}}, strategic=True, status_only=True
    )
    assert (status["spec"], status["status"]) == ({"a": 1}, {"s": 2})


def test_the_patch_resource_version_is_the_precondition() -> None:
    assert (
        patched(
            CURRENT, {"metadata": {"resourceVersion": "3"}}, strategic=False, status_only=False
        )["metadata"]["resourceVersion"]
        == "3"
    )
    assert (
        patched(CURRENT, {}, strategic=False, status_only=False)["metadata"]["resourceVersion"]
        == "5"
    )


def test_a_rename_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"metadata\.name cannot be changed"):
        patched(CURRENT, {"metadata": {"name": "m"}}, strategic=False, status_only=False)
