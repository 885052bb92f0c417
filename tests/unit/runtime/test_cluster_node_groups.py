"""The cluster as one node when some of its nodes come on demand: groups count at their max,
their current members are not counted twice, and a bad node-groups file names the field."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.nodegroups import NodeGroupsError, parse_node_groups
from mlkube.runtime.kubernetes.cluster_node import cluster_node

GROUPS = parse_node_groups(
    """
- name: a100
  nodeSelector: {karpenter.sh/nodepool: a100}
  template: {cpu: 32, memory: 256Gi, nvidia.com/gpu: 4, gpuModel: NVIDIA-A100-SXM4-80GB}
  max: 2
- name: mi300
  nodeSelector: {pool: amd}
  template: {cpu: 16, memory: 64Gi, amd.com/gpu: 1, gpuModel: MI300X}
  max: 1
"""
)


def node(name: str, cpu: str, memory: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def test_groups_count_at_their_max_and_their_members_are_not_counted_again() -> None:
    nodes = [
        node("cpu-1", "8", "32Gi"),
        node("a100-1", "30", "250Gi", **{"karpenter.sh/nodepool": "a100"}),  # a member
    ]
    whole = cluster_node(nodes, groups=GROUPS)
    assert len(whole.cpus) == 8 + 2 * 32 + 16
    assert whole.memory_bytes == (32 + 2 * 256 + 64) * 2**30
    models = [(g.vendor, g.model) for g in whole.gpus]
    assert models == [("nvidia", "NVIDIA-A100-SXM4-80GB")] * 8 + [("amd", "MI300X")]
    assert [g.index for g in whole.gpus] == list(range(9))


def test_without_groups_only_the_ready_nodes_count() -> None:
    assert len(cluster_node([node("cpu-1", "8", "32Gi")]).cpus) == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- {name: g, template: {cpu: 2, memory: 1Gi}, max: 1}",
            "[0].nodeSelector: Field required",
        ),
        (
            "- {name: g, nodeSelector: {a: b}, template: {cpu: 2Gx, memory: 1Gi}, max: 1}",
            "[0].template.cpu",
        ),
        (
            "- {name: g, nodeSelector: {a: b}, max: 1,"
            " template: {cpu: 2, memory: 1Gi, nvidia.com/gpu: 1}}",
            "needs their gpuModel",
        ),
        ("- {name: g, nodeSelector: {a: b}, template: {cpu: 2, memory: 1Gi}, max: -1}", "[0].max"),
        (
            "- {name: g, nodeSelector: {a: b}, template: {cpu: 2, memory: 1Gi}, max: 1}\n" * 2,
            "node group name 'g' is used twice",
        ),
        ("name: g", "must be a list of node groups"),
    ],
)
def test_a_bad_file_names_the_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(NodeGroupsError) as refused:
        parse_node_groups(text, source="groups.yaml")
    assert message in str(refused.value)
    assert str(refused.value).startswith("groups.yaml")
