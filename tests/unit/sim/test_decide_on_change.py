"""The engine decides only where something changed: admission looks at a scope's whole backlog
only after usage there went down, and work no node can host waits for room instead of being
tried at every pass."""

from __future__ import annotations

from typing import Any

from mlkube.sim import parse_trace, run

from .helpers import flavor, gpu_node, job, queue

CPU_NODE = {"name": "cpu", "count": 1, "cpu": 32, "memory": "128Gi"}


def cpu_job(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "podSets": [{"count": 1, "requests": {"cpu": 1, "memory": "1Gi"}}],
        **extra,
    }


def test_a_gang_without_room_is_not_tried_again_until_room_it_could_use_appears() -> None:
    spec = parse_trace(
        {
            "nodes": [gpu_node("n", count=2), CPU_NODE],
            "manifests": [flavor("gpu", "A100"), queue("team", 4, cohort=None)],
            "workloads": [
                job("gang", "team", pods=3),  # three one-GPU pods, two GPUs in the cluster
                # Twenty passes with CPU work coming and going on the CPU node only.
                cpu_job("cpu", "other", arrival=10, duration=5, repeat=20, interval=10),
            ],
        }
    )
    result = run(spec)
    assert result.finished == 20
    assert result.unschedulable == {"gang": "no node can host all 3 pod(s) now"}
    # The CPU jobs' 20 pods, and the gang's three pods asked for twice: when it was first
    # admitted, and once more when nothing was left to happen (retried at every pass, it
    # would have asked for 3 more per pass).
    assert result.decisions.placements == 20 + 2 * 3


def test_arrivals_behind_a_full_queue_wait_without_being_decided_again() -> None:
    spec = parse_trace(
        {
            "nodes": [gpu_node("n", gpus=2)],
            "manifests": [flavor("gpu", "A100"), queue("team", 1, cohort=None)],
            "workloads": [
                job("long", "team", duration=1000),
                job("queued", "team", at=1, duration=10, repeat=30, interval=1),
            ],
        }
    )
    result = run(spec)
    assert result.finished == 31
    # "long" at once; arrivals while the quota is full cost no decision (they cannot fit what
    # is left of it); after each completion, the backlog left behind: 30 + 29 + ... + 1.
    assert result.decisions.admissions == 1 + sum(range(1, 31))
    waits = sorted(result.waits.values())
    assert waits[0] == 0.0 and waits[1] == 999.0  # the first queued one starts as long ends


def test_decision_times_are_reported_but_not_part_of_the_summary() -> None:
    spec = parse_trace(
        {
            "nodes": [gpu_node("n")],
            "manifests": [flavor("gpu", "A100"), queue("team", 1, cohort=None)],
            "workloads": [job("w", "team")],
        }
    )
    result = run(spec)
    assert (result.decisions.admissions, result.decisions.placements) == (1, 1)
    assert result.decisions.admission_s >= 0 and result.decisions.placement_s >= 0
    assert "decisions" not in result.summary()
