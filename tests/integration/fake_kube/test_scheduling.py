"""The fake scheduler: GPU requests, node selectors and taints against fake nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from mlkube.testing.kube import FakeNode, fake_kube_cluster
from tests.integration.fake_kube.conftest import container, python, wait_for

H100 = "NVIDIA-H100-80GB-HBM3"
CPU_NODES = [FakeNode("cpu-1"), FakeNode("cpu-2")]
GPU_NODE = FakeNode(
    "gpu-1",
    {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "8"},
    labels={"nvidia.com/gpu.product": H100},
    taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
)


def gpu_pod(name: str) -> dict[str, Any]:
    main = container(python("print('on a gpu')"), resources={"limits": {"nvidia.com/gpu": "1"}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [main],
            "nodeSelector": {"nvidia.com/gpu.product": H100},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }


def scheduled(core: client.CoreV1Api, name: str) -> client.V1PodCondition | None:
    conditions = core.read_namespaced_pod(name, "default").status.conditions or []
    return next((c for c in conditions if c.type == "PodScheduled"), None)


def test_a_gpu_pod_stays_pending_where_no_node_has_the_gpu(tmp_path: Path) -> None:
    with fake_kube_cluster(tmp_path, nodes=CPU_NODES) as kube, kube.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", gpu_pod("train"))
        condition = wait_for(lambda: scheduled(core, "train"), what="the scheduling verdict")
        assert (condition.status, condition.reason) == ("False", "Unschedulable")
        assert condition.message == (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
        )
        pod = core.read_namespaced_pod("train", "default")
        assert pod.status.phase == "Pending" and pod.spec.node_name is None
        api.rest_client.pool_manager.clear()


def test_insufficient_gpus_are_named_in_the_message(tmp_path: Path) -> None:
    small = {"cpu": "4", "memory": "8Gi"}
    nodes = [FakeNode(f"gpu-{i}", small, labels={"nvidia.com/gpu.product": H100}) for i in (1, 2)]
    with fake_kube_cluster(tmp_path, nodes=nodes) as kube, kube.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", gpu_pod("train"))
        condition = wait_for(lambda: scheduled(core, "train"), what="the scheduling verdict")
        assert condition.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
        api.rest_client.pool_manager.clear()


def test_a_gpu_pod_runs_on_the_node_that_has_the_gpu(tmp_path: Path) -> None:
    with (
        fake_kube_cluster(tmp_path, nodes=[*CPU_NODES, GPU_NODE]) as kube,
        kube.api_client() as api,
    ):
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", gpu_pod("train"))
        wait_for(
            lambda: core.read_namespaced_pod("train", "default").status.phase == "Succeeded",
            what="the pod to run",
        )
        pod = core.read_namespaced_pod("train", "default")
        assert pod.spec.node_name == "gpu-1" and scheduled(core, "train").status == "True"
        assert core.read_namespaced_pod_log("train", "default") == "on a gpu\n"
        node = core.read_node("gpu-1")
        assert node.status.capacity["nvidia.com/gpu"] == "8"
        assert node.metadata.labels["nvidia.com/gpu.product"] == H100
        api.rest_client.pool_manager.clear()


def test_a_taint_keeps_pods_without_the_toleration_away(tmp_path: Path) -> None:
    with fake_kube_cluster(tmp_path, nodes=[GPU_NODE]) as kube, kube.api_client() as api:
        core = client.CoreV1Api(api)
        pod = gpu_pod("untolerated")
        del pod["spec"]["tolerations"]
        core.create_namespaced_pod("default", pod)
        condition = wait_for(lambda: scheduled(core, "untolerated"), what="the scheduling verdict")
        assert condition.message == (
            "0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}."
        )
        api.rest_client.pool_manager.clear()
