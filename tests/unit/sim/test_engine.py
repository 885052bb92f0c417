"""The sim engine: gangs, autoscaling, scale-down, preemption, the virtual clock, determinism."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mlkube.sim import SimSpec, load_trace, parse_trace, run

from .helpers import flavor, gpu_node, gpu_shape, job, priority, queue

EXAMPLE = Path(__file__).parents[3] / "examples" / "sim" / "two-teams.trace.yml"


def spec_of(**trace: Any) -> SimSpec:
    return parse_trace(trace)


def test_a_gang_is_never_half_placed_and_gives_its_quota_back() -> None:
    spec = spec_of(
        nodes=[gpu_node("n", count=2)],
        manifests=[flavor("gpu", "A100"), queue("team", 4, cohort=None)],
        workloads=[
            job("gang", "team", pods=3),  # three one-GPU pods, two GPUs in the cluster
            job("single", "team", at=5),
        ],
    )
    result = run(spec)
    assert all(s.gpu_allocated in (0, 1000) for s in result.timeline)  # only "single" ever ran
    assert result.finished == 1
    assert "gang" not in result.waits
    assert result.unschedulable == {"gang": "no node can host all 3 pod(s) now"}


def test_the_autoscaler_adds_nodes_and_waits_fall() -> None:
    with_groups = load_trace(EXAMPLE)
    scaled = run(with_groups)
    fixed = run(load_trace(EXAMPLE, autoscale=False))
    assert scaled.nodes["a100-pool"].peak > 0
    assert fixed.nodes["a100-pool"].peak == 0
    assert scaled.mean_wait_s < fixed.mean_wait_s
    assert scaled.makespan_s < fixed.makespan_s
    assert scaled.finished == fixed.finished == len(with_groups.workloads)


def test_new_nodes_appear_after_the_provisioning_delay() -> None:
    spec = spec_of(
        nodeGroups=[{"name": "pool", "template": gpu_shape(), "max": 3}],
        autoscaler={"provisioningSeconds": 90},
        workloads=[job("w", "anyone", pods=2)],
    )
    result = run(spec)
    assert result.waits == {"w": 90.0}
    assert result.nodes["pool"].peak == 2
    first_with_nodes = next(s for s in result.timeline if s.nodes["pool"])
    assert first_with_nodes.t == 90.0


def test_idle_nodes_go_away_after_the_unneeded_time_but_not_below_min() -> None:
    spec = spec_of(
        nodeGroups=[{"name": "pool", "template": gpu_shape(), "min": 1, "max": 4, "initial": 3}],
        autoscaler={"scaleDownUnneededSeconds": 300},
        workloads=[job("w", "anyone", duration=1000)],
    )
    result = run(spec)
    removal = next(s for s in result.timeline if s.nodes["pool"] < 3)
    assert (removal.t, removal.nodes["pool"]) == (300.0, 1)  # the two idle ones, not w's
    assert result.nodes["pool"].final == 1
    no_scaling = run(replace(spec, settings=replace(spec.settings, autoscale=False)))
    assert no_scaling.nodes["pool"].final == 3


def test_preempted_work_is_requeued_restarts_and_finishes() -> None:
    spec = spec_of(
        nodes=[gpu_node("n", gpus=4)],
        preemptionGraceSeconds=20,
        manifests=[flavor("gpu", "A100"), queue("team-a", 2), queue("team-b", 2)],
        workloads=[
            job("borrower", "team-b", gpus=4, duration=1000),  # borrows team-a's two GPUs
            job("owner", "team-a", gpus=2, at=100, duration=100),
        ],
    )
    result = run(spec)
    assert result.preemptions == 1
    assert result.finished == 2
    # owner waits for the grace period; borrower runs 100 s, is evicted at 120 s, and starts
    # again from scratch once owner is done at 220 s.
    assert result.waits == {"owner": 20.0, "borrower": 100.0}
    assert result.makespan_s == 1220.0


def test_higher_priority_preempts_lower_in_the_same_queue() -> None:
    spec = spec_of(
        nodes=[gpu_node("n", gpus=2)],
        preemptionGraceSeconds=0,
        manifests=[
            flavor("gpu", "A100"),
            queue("team", 2, cohort=None),
            priority("low", 0, default=True),
            priority("high", 100),
        ],
        workloads=[
            job("low", "team", gpus=2, duration=500),
            job("high", "team", gpus=2, at=10, duration=50, priorityClassName="high"),
        ],
    )
    result = run(spec)
    assert result.preemptions == 1
    assert result.waits["high"] == 0.0
    assert result.finished == 2


def test_gpu_fractions_share_devices_and_count_as_fractions_in_quota() -> None:
    spec = spec_of(
        nodes=[gpu_node("n", gpus=2)],
        manifests=[flavor("gpu", "A100"), queue("team", 1, cohort=None)],
        workloads=[job("quarter", "team", gpus=0.25, duration=100, repeat=5)],
    )
    result = run(spec)
    # One GPU of quota holds four quarters at once; the fifth waits for one to finish.
    assert max(s.gpu_allocated for s in result.timeline) == 1000
    assert sorted(result.waits.values()) == [0, 0, 0, 0, 100]


def test_a_ten_hour_trace_is_decided_event_by_event() -> None:
    """The virtual clock jumps from event to event: ten hours of 100 workloads take a few
    hundred decisions, not one pass per virtual second (wall time is a benchmark's business,
    see benchmarks/sim_scale.py)."""
    spec = spec_of(
        nodes=[gpu_node("n", gpus=8, count=4)],
        nodeGroups=[{"name": "pool", "template": gpu_shape(8), "max": 4}],
        manifests=[flavor("gpu", "A100"), queue("a", 16), queue("b", 16)],
        workloads=[
            job("a", "a", gpus=2, pods=2, duration=1800, repeat=40, interval=900),
            job("b", "b", gpus=1, duration=3600, repeat=60, interval=600),
        ],
    )
    result = run(spec)
    assert result.makespan_s >= 10 * 3600
    assert result.finished == 100
    pods = 40 * 2 + 60
    assert result.decisions.placements < 3 * pods
    assert result.decisions.admissions < 5 * 100


def test_results_are_deterministic() -> None:
    first, second = run(load_trace(EXAMPLE)), run(load_trace(EXAMPLE))
    assert strip_wall(first.summary()) == strip_wall(second.summary())
    assert first.waits == second.waits
    assert first.timeline == second.timeline


def strip_wall(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "admissions_per_wall_s")}
