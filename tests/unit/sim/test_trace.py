"""YAML traces: the example loads through the platform's queue translation; bad input is
refused with the field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlkube.sim import TraceError, load_trace, parse_trace

from .helpers import flavor, gpu_node, gpu_shape, job, queue

EXAMPLE = Path(__file__).parents[3] / "examples" / "sim" / "two-teams.trace.yml"


def base(**changes: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "nodes": [gpu_node("n", gpus=2)],
        "manifests": [flavor("gpu", "A100"), queue("team", 4)],
        "workloads": [job("w", "team")],
    }
    trace.update(changes)
    return trace


def test_the_example_reads_its_queues_through_the_platforms_translation() -> None:
    spec = load_trace(EXAMPLE)
    assert sorted(spec.queues.quotas) == ["team-a", "team-b"]
    assert spec.queues.queue_of == {"team-a": "team-a", "team-b": "team-b"}
    assert spec.queues.flavor_model == {"a100": "A100", "cpu": None}
    by_key = {w.key: w for w in spec.workloads}
    assert by_key["a-urgent"].priority == 1000 and by_key["b-batch-0"].priority == 0
    gang = by_key["a-train"].pod_sets[0]
    assert gang.count == 4 and [o.flavor for o in gang.options] == ["a100"]
    notebook = by_key["a-notebook-3"].pod_sets[0].options[0]
    assert notebook.per_pod["nvidia.com/gpu"] == 250
    assert (notebook.task.num_gpu, notebook.task.gpu_milli) == (1, 250)
    prep = by_key["b-prep-0"].pod_sets[0]
    assert [o.flavor for o in prep.options] == ["cpu", "a100"]  # CPU work: GPU flavors last
    assert [g.name for g in spec.groups] == ["a100-pool"] and spec.groups[0].initial == 0


def test_fallbacks_become_flavor_options_in_order(tmp_path: Path) -> None:
    trace = base(
        nodes=[gpu_node("a", gpus=4), {"name": "h", **gpu_shape(4), "gpuModel": "H100"}],
        manifests=[
            flavor("h100", "H100"),
            flavor("a100", "A100"),
            queue("team", 4),
            {**queue("team2", 4), "metadata": {"name": "team2"}},
        ],
    )
    trace["manifests"][2]["spec"]["resourceGroups"][0]["flavors"] = [
        {
            "name": name,
            "resources": [
                {"name": "cpu", "nominalQuota": "8"},
                {"name": "memory", "nominalQuota": "64Gi"},
                {"name": "nvidia.com/gpu", "nominalQuota": "4"},
            ],
        }
        for name in ("h100", "a100")
    ]
    trace["workloads"] = [
        {
            "name": "w",
            "namespace": "team",
            "duration": 10,
            "podSets": [
                {
                    "requests": {"cpu": 1, "nvidia.com/gpu": 1},
                    "gpuModel": "H100",
                    "fallbacks": [
                        {"requests": {"cpu": 1, "nvidia.com/gpu": 2}, "gpuModel": "A100"}
                    ],
                }
            ],
        }
    ]
    trace["manifests"].pop(3)
    options = parse_trace(trace).workloads[0].pod_sets[0].options
    assert [(o.flavor, o.per_pod["nvidia.com/gpu"], o.task.gpu_models) for o in options] == [
        ("h100", 1000, ("H100",)),
        ("a100", 2000, ("A100",)),
    ]


def test_manifests_may_follow_as_yaml_documents(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "nodes: [{name: n, cpu: 4, memory: 8Gi}]\n"
        "workloads: [{name: w, namespace: team, duration: 5, podSets: [{requests: {cpu: 1}}]}]\n"
        "---\n"
        "apiVersion: mlkube.io/v1alpha1\nkind: ClusterQueue\nmetadata: {name: q}\n"
        "spec:\n  namespaces: [team]\n  resourceGroups:\n"
        "  - flavors: [{name: f, resources: [{name: cpu, nominalQuota: '2'}]}]\n"
    )
    spec = load_trace(path)
    assert spec.workloads[0].queue == "q"


CPU_ONLY_QUEUE = queue("team", 0)
CPU_ONLY_QUEUE["spec"]["resourceGroups"][0]["flavors"][0]["resources"].pop()  # no GPUs

BAD = [
    (base(extra=1), "extra: unknown field"),
    (base(workloads=[{**job("w", "team"), "gpus": 1}]), "workloads[0].gpus: unknown field"),
    (
        base(workloads=[job("w", "team", priorityClassName="vip")]),
        "workloads[0].priorityClassName: no PriorityClass named 'vip'",
    ),
    (
        base(workloads=[job("w", "team", gpus=3)]),
        "workloads[0].podSets[0].requests: bigger than any node or node-group template",
    ),
    (
        base(workloads=[job("w", "team", gpus=1.5)]),
        "workloads[0].podSets[0].requests.nvidia.com/gpu: 1500m is more than one GPU",
    ),
    (
        base(
            workloads=[
                {
                    **job("w", "team"),
                    "podSets": [{"requests": {"nvidia.com/gpu": 1}, "gpuModel": "H100"}],
                }
            ]
        ),
        "workloads[0].podSets[0].gpuModel: no node or node-group template has GPU model 'H100'",
    ),
    (
        base(workloads=[{**job("w", "team"), "podSets": [{"requests": {"cpu": "lots"}}]}]),
        "workloads[0].podSets[0].requests.cpu: quantity 'lots' must match",
    ),
    (
        base(manifests=[CPU_ONLY_QUEUE]),
        "workloads[0].podSets[0]: no flavor of ClusterQueue team covers what it requests",
    ),
    (
        base(manifests=[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]),
        "manifests[0]: kind Namespace is not used by the sim",
    ),
    (
        base(nodeGroups=[{"name": "g", "template": gpu_shape(), "min": 3, "max": 2}]),
        "nodeGroups[0]: min 3 must not exceed max 2",
    ),
    (base(nodes=[gpu_node("n"), gpu_node("n")]), "nodes: node name 'n' is used twice"),
]


@pytest.mark.parametrize(("trace", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_traces_are_refused_naming_the_field(trace: dict[str, Any], message: str) -> None:
    with pytest.raises(TraceError) as caught:
        parse_trace(trace)
    assert message in str(caught.value)
