"""Namespace ResourceQuotas: storage and run counts, refused at create like Kubernetes."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import Forbidden, Invalid
from mlkube.api.kinds import PIPELINE_RUN, RESOURCE_QUOTA, validate
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.controllers.storage_quota import (
    ResourceQuotaController,
    refusal,
    storage_bytes,
    storage_quota_check,
)
from mlkube.testing.memory_store import MemoryStore

MiB = 2**20


def quota(**hard: str) -> dict[str, Any]:
    names = {"storage": "requests.storage", "runs": "count/pipelineruns.mlkube.io"}
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team-quota", "namespace": "team"},
        "spec": {"hard": {names[k]: v for k, v in hard.items()}},
    }


def run(name: str, *sizes: tuple[str, int]) -> dict[str, Any]:
    outputs = [
        {"name": "o", "artifact": {"uri": f"file://{d}", "digest": d, "size": n}} for d, n in sizes
    ]
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"pipelineSpec": {"steps": [{"name": "s", "command": ["true"]}]}},
        "status": {"steps": [{"name": "s", "outputs": outputs}]},
    }


def test_storage_counts_each_artifact_once() -> None:
    runs = [run("a", ("sha256:1", 4 * MiB), ("sha256:2", MiB)), run("b", ("sha256:1", 4 * MiB))]
    assert storage_bytes(runs) == 5 * MiB


@pytest.mark.parametrize(
    ("hard", "used", "message"),
    [
        ({"storage": "10Mi"}, {"requests.storage": 9 * MiB}, None),
        (
            {"storage": "10Mi"},
            {"requests.storage": 10 * MiB},
            "exceeded quota: team-quota, used: requests.storage=10Mi, "
            "limited: requests.storage=10Mi (delete runs to free their artifacts)",
        ),
        ({"runs": "2"}, {"count/pipelineruns.mlkube.io": 1}, None),
        (
            {"runs": "2"},
            {"count/pipelineruns.mlkube.io": 2},
            "exceeded quota: team-quota, requested: count/pipelineruns.mlkube.io=1, "
            "used: count/pipelineruns.mlkube.io=2, limited: count/pipelineruns.mlkube.io=2",
        ),
    ],
)
def test_refusal(hard: dict[str, str], used: dict[str, int], message: str | None) -> None:
    assert refusal(NamespaceResourceQuota.model_validate(quota(**hard)), used) == message


@pytest.mark.parametrize(
    ("hard", "problem"),
    [
        ({"cpu": "4"}, "'cpu' is not supported here"),
        ({"requests.storage": "ten"}, "requests.storage:"),
        ({"requests.storage": "-1Gi"}, "must not be negative"),
    ],
)
def test_bad_quotas_are_refused_naming_the_field(hard: dict[str, str], problem: str) -> None:
    body = quota()
    body["spec"]["hard"] = hard
    with pytest.raises(Invalid) as info:
        validate(RESOURCE_QUOTA, body)
    [cause] = info.value.causes
    assert cause.field.startswith("spec.hard")
    assert problem in cause.message


def test_a_new_run_is_refused_while_storage_is_full_and_status_shows_use() -> None:
    store = MemoryStore()
    store.create(RESOURCE_QUOTA.resource, quota(storage="5Mi", runs="10"))
    store.create(PIPELINE_RUN.resource, run("big", ("sha256:1", 6 * MiB)))
    check = storage_quota_check(store)
    new = PipelineRun.model_validate(run("next"))
    with pytest.raises(Forbidden) as info:
        check(PIPELINE_RUN, new, "CREATE")
    assert str(info.value.message).startswith(
        'pipelineruns.mlkube.io "next" is forbidden: exceeded quota: team-quota, '
        "used: requests.storage=6Mi, limited: requests.storage=5Mi"
    )
    assert check(PIPELINE_RUN, new, "UPDATE") == []  # only new runs are held back
    ResourceQuotaController(store).reconcile("team")
    status = store.get(RESOURCE_QUOTA.resource, "team", "team-quota")["status"]
    assert status == {
        "hard": {"requests.storage": "5Mi", "count/pipelineruns.mlkube.io": "10"},
        "used": {"requests.storage": "6Mi", "count/pipelineruns.mlkube.io": "1"},
    }
    store.delete(PIPELINE_RUN.resource, "team", "big")
    assert check(PIPELINE_RUN, new, "CREATE") == []


def test_namespaces_without_a_quota_are_not_limited() -> None:
    store = MemoryStore()
    store.create(PIPELINE_RUN.resource, run("big", ("sha256:1", 6 * MiB)))
    new = PipelineRun.model_validate(run("next"))
    assert storage_quota_check(store)(PIPELINE_RUN, new, "CREATE") == []
    assert ResourceQuotaController(store).reconcile("team") is None
