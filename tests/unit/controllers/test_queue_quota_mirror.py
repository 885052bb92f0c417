"""`mirror_plan`: which writes bring the mirrored queue quotas in line, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.controllers.queue_quota_mirror import mirror_plan
from mlkube.runtime.kubernetes.namespaces import UNCAPPED


def quota(ns: str, cpu: str, *, uncapped: str | None = None, rv: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "mlkube-queues", "namespace": ns, "labels": {"a": "b"}}
    if uncapped:
        meta["annotations"] = {UNCAPPED: uncapped}
    if rv:
        meta["resourceVersion"] = rv
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta,
        "spec": {"hard": {"requests.cpu": cpu}},
    }


CASES = [
    ("nothing at all", {}, {}, []),
    ("new namespace", {"a": quota("a", "4")}, {}, [("create", "a")]),
    ("same hard", {"a": quota("a", "4")}, {"a": quota("a", "4", rv="7")}, []),
    ("raised", {"a": quota("a", "8")}, {"a": quota("a", "4", rv="7")}, [("update", "a")]),
    (
        "now uncapped",
        {"a": quota("a", "4", uncapped="nvidia.com/gpu")},
        {"a": quota("a", "4", rv="7")},
        [("update", "a")],
    ),
    ("no queue names it", {"a": None}, {"a": quota("a", "4", rv="7")}, [("delete", "a")]),
    ("ours gone from the listing", {}, {"b": quota("b", "1", rv="3")}, [("delete", "b")]),
    (
        "several, in namespace order",
        {"c": quota("c", "1"), "a": None},
        {"a": quota("a", "1", rv="2")},
        [("delete", "a"), ("create", "c")],
    ),
]


@pytest.mark.parametrize(
    ("case", "desired", "existing", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_mirror_plan(
    case: str,
    desired: dict[str, dict[str, Any] | None],
    existing: dict[str, dict[str, Any]],
    expected: list[tuple[str, str]],
) -> None:
    assert [(a.verb, a.namespace) for a in mirror_plan(desired, existing)] == expected


def test_an_update_keeps_the_stored_metadata_and_takes_the_built_hard() -> None:
    have = quota("a", "4", rv="7")
    have["metadata"]["annotations"] = {"note": "kept", UNCAPPED: "cpu"}
    (action,) = mirror_plan({"a": quota("a", "8")}, {"a": have})
    meta = action.object["metadata"]
    assert meta["resourceVersion"] == "7"  # the write is conditional on what was read
    assert meta["annotations"] == {"note": "kept"}  # the stale uncapped note is dropped
    assert action.object["spec"]["hard"] == {"requests.cpu": "8"}
    assert have["spec"]["hard"] == {"requests.cpu": "4"}  # the input is not mutated
