"""The fake scheduler's first fit and kube-scheduler's messages, as a table of cases."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.testing.kube.scheduling import FakeNode, place

GPU = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
TAINT = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}


def node(
    name: str, labels: dict[str, str] | None = None, taints: Any = (), **capacity: str
) -> dict[str, Any]:
    wanted = {k.replace("_", "/").replace("nvidia/", "nvidia.com/"): v for k, v in capacity.items()}
    return FakeNode(name, wanted or {"cpu": "4", "memory": "8Gi"}, labels or {}, taints).to_object(
        "1.30"
    )


def pod(requests: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    main = {"name": "main", "resources": {"requests": requests or {}}}
    return {"metadata": {"name": "p"}, "spec": {"containers": [main], **spec}}


def bound(node_name: str, requests: dict[str, str], phase: str = "Running") -> dict[str, Any]:
    p = pod(requests, nodeName=node_name)
    p["status"] = {"phase": phase}
    return p


CASES = [
    ("fits on the first node", pod({"cpu": "1"}), [node("a"), node("b")], [], "a", ""),
    (
        "skips a full node",
        pod({"cpu": "2"}),
        [node("a"), node("b")],
        [bound("a", {"cpu": "3"})],
        "b",
        "",
    ),
    (
        "finished pods free their node",
        pod({"cpu": "2"}),
        [node("a")],
        [bound("a", {"cpu": "3"}, "Succeeded")],
        "a",
        "",
    ),
    (
        "insufficient on every node",
        pod({"cpu": "8"}),
        [node("a"), node("b")],
        [],
        None,
        "0/2 nodes are available: 2 Insufficient cpu.",
    ),
    (
        "reasons are counted and sorted",
        pod({"nvidia.com/gpu": "1"}, nodeSelector=GPU),
        [node("a"), node("b", GPU, cpu="4", nvidia_gpu="0")],
        [],
        None,
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) didn't match Pod's node affinity/selector.",
    ),
    (
        "selector matches",
        pod({"nvidia.com/gpu": "1"}, nodeSelector=GPU),
        [node("a"), node("g", GPU, cpu="4", nvidia_gpu="1")],
        [],
        "g",
        "",
    ),
    (
        "untolerated taint",
        pod(),
        [node("t", taints=[TAINT])],
        [],
        None,
        "0/1 nodes are available: 1 node(s) had untolerated taint {gpu: yes}.",
    ),
    (
        "tolerated taint",
        pod(tolerations=[{"key": "gpu", "operator": "Exists"}]),
        [node("t", taints=[TAINT])],
        [],
        "t",
        "",
    ),
    (
        "required node affinity (terms are ORed)",
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["x"]}
                                ]
                            },
                            {
                                "matchExpressions": [
                                    {"key": "nvidia.com/gpu.product", "operator": "Exists"}
                                ]
                            },
                        ]
                    }
                }
            }
        ),
        [node("a"), node("g", GPU)],
        [],
        "g",
        "",
    ),
    (
        "too many pods",
        pod(),
        [node("a", pods="1")],
        [bound("a", {})],
        None,
        "0/1 nodes are available: 1 Too many pods.",
    ),
    ("no nodes", pod(), [], [], None, "no nodes available to schedule pods"),
]


@pytest.mark.parametrize(
    ("why", "the_pod", "nodes", "pods", "where", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_place(
    why: str, the_pod: Any, nodes: Any, pods: Any, where: str | None, message: str
) -> None:
    placement = place(the_pod, nodes, pods)
    assert (placement.node, placement.message) == (where, message)
