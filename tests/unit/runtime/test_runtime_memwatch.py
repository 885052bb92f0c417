"""Memory enforcement: which mechanism a workload gets, and the sampling watchdog's check."""

from __future__ import annotations

import os
from typing import Any

import pytest

from mlkube.runtime.base import GpuDevice, PythonTarget, WorkloadSpec
from mlkube.runtime.local.exits import ExitFacts, classify_exit
from mlkube.runtime.local.memwatch import MemoryBreach, check_memory, describe_enforcement
from mlkube.runtime.local.plan import choose_memory_enforcement, launch_request
from mlkube.runtime.local.usage import UsageTracker

MiB = 1 << 20
GPU = GpuDevice(0, "nvidia", "H200", 141 << 30, "GPU-aaaa")


@pytest.mark.parametrize(
    ("cgroups", "gpus", "how"),
    [
        (True, False, "cgroup"),
        (True, True, "cgroup"),  # cgroups work for GPU workloads too
        (False, False, "rlimit"),
        (False, True, "watchdog"),  # CUDA/ROCm cannot start under RLIMIT_AS
    ],
)
def test_choose_memory_enforcement(cgroups, gpus, how):
    assert choose_memory_enforcement(cgroups=cgroups, gpus=gpus) == how


def _spec(**fields: Any) -> WorkloadSpec:
    return WorkloadSpec(
        "w", python=PythonTarget("m", "f"), env={}, cwd="/w", log_path="/l", **fields
    )


@pytest.mark.parametrize(("address_space_limit", "sent"), [(True, 64 * MiB), (False, None)])
def test_the_watchdog_sends_no_address_space_limit(address_space_limit, sent):
    spec = _spec(memory_limit_bytes=64 * MiB, gpus=(GPU,))
    request = launch_request(
        spec, base_env={}, cgroup_procs=None, address_space_limit=address_space_limit
    )
    assert request["memory_limit"] == sent


class Measure:
    """A stand-in for the costly proportional measurement; counts its calls."""

    def __init__(self, value: int) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> int:
        self.calls += 1
        return self.value


@pytest.mark.parametrize(
    ("rss", "pss", "breach", "measured"),
    [
        (60 * MiB, 50 * MiB, None, 0),  # RSS within: PSS is never read
        (64 * MiB, 64 * MiB, None, 0),  # at the limit is within it
        (200 * MiB, 60 * MiB, None, 1),  # RSS over only through pages shared in the tree
        (200 * MiB, 65 * MiB, 65 * MiB, 1),
    ],
)
def test_check_memory_reads_the_costly_figure_only_when_rss_is_over(rss, pss, breach, measured):
    measure = Measure(pss)
    assert check_memory(64 * MiB, rss, measure) == breach
    assert measure.calls == measured


def test_breach_message_says_what_and_how():
    breach = MemoryBreach("w", 4 << 30, int(4.3 * (1 << 30)))
    facts = ExitFacts(
        None, 9, 1.0, oom_killed=True, oom_detail=breach.detail(), memory_limit_bytes=4 << 30
    )
    assert classify_exit("w", facts).message == (
        "memory limit 4Gi exceeded (resident 4.3Gi; enforced by sampling: no memory cgroup, "
        "and GPU workloads cannot use an address-space limit)"
    )


def test_describe_enforcement_names_the_interval():
    assert "every 0.5s" in describe_enforcement("watchdog", sample_interval=0.5)
    assert "cgroup" in describe_enforcement("cgroup", sample_interval=0.5)


def test_tracker_reports_a_watched_workload_over_its_limit_once():
    # Samples this very process (no child, no sleep): surely over one byte, under 1 PiB.
    tracker = UsageTracker()
    tracker.start("over", os.getpid(), None, watch_limit=1)
    tracker.start("within", os.getpid(), None, watch_limit=1 << 50)
    tracker.start("unwatched", os.getpid(), None)
    [breach] = tracker.sample_all()
    assert (breach.workload_id, breach.limit_bytes) == ("over", 1)
    assert breach.resident_bytes > 1
    assert tracker.sample_all() == []
