"""The operator mirrors ClusterQueues into each named namespace's `mlkube-queues`
ResourceQuota on the fake cluster, seen only through the official client."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlkube.server.operator import OperatorPlatform
from tests.integration.platform.conftest import wait_for

GROUP, VERSION = "mlkube.io", "v1alpha1"
MIRRORED = "mlkube-queues"


def queue(namespaces: list[str], cpu: str, gpus: str) -> dict[str, Any]:
    resources = [
        {"name": "cpu", "nominalQuota": cpu},
        {"name": "nvidia.com/gpu", "nominalQuota": gpus},
    ]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterQueue",
        "metadata": {"name": "vision"},
        "spec": {
            "namespaces": namespaces,
            "resourceGroups": [{"flavors": [{"name": "default", "resources": resources}]}],
        },
    }


def hard_in(api: client.ApiClient, namespace: str) -> dict[str, str] | None:
    try:
        quota = client.CoreV1Api(api).read_namespaced_resource_quota(MIRRORED, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return dict(quota.spec.hard)


def test_cluster_queues_are_mirrored_into_their_namespaces(
    api: client.ApiClient, operator: OperatorPlatform
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for name in ("team-a", "team-b"):
        core.create_namespace({"metadata": {"name": name}})
    # A quota of the team's own, of another name: never ours to change or delete.
    own = {"metadata": {"name": "storage"}, "spec": {"hard": {"requests.storage": "10Gi"}}}
    core.create_namespaced_resource_quota("team-b", own)

    custom.create_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", queue(["team-a", "team-b"], "4", "2")
    )
    first = {"requests.cpu": "4", "requests.nvidia.com/gpu": "2"}
    for name in ("team-a", "team-b"):
        wait_for(lambda n=name: hard_in(api, n) == first, what=f"the quota in {name}")

    custom.patch_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", "vision", queue(["team-a", "team-b"], "8", "2")
    )
    raised = {"requests.cpu": "8", "requests.nvidia.com/gpu": "2"}
    for name in ("team-a", "team-b"):
        wait_for(lambda n=name: hard_in(api, n) == raised, what=f"the raised quota in {name}")

    custom.patch_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", "vision", {"spec": {"namespaces": ["team-a"]}}
    )
    wait_for(lambda: hard_in(api, "team-b") is None, what="the quota in team-b to go")
    assert hard_in(api, "team-a") == raised
    kept = core.read_namespaced_resource_quota("storage", "team-b")
    assert kept.spec.hard == {"requests.storage": "10Gi"}
    mirrored = core.read_namespaced_resource_quota(MIRRORED, "team-a")
    assert mirrored.metadata.labels["app.kubernetes.io/managed-by"] == "mlkube-operator"


def test_a_namespace_created_later_gets_its_quota(
    api: client.ApiClient, operator: OperatorPlatform
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    custom.create_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", queue(["team-late"], "2", "0")
    )
    core.create_namespace({"metadata": {"name": "team-late"}})
    expected = {"requests.cpu": "2", "requests.nvidia.com/gpu": "0"}
    wait_for(lambda: hard_in(api, "team-late") == expected, what="the quota of a late namespace")
