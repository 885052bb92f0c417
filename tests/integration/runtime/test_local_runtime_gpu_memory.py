"""Memory limits of GPU workloads: never RLIMIT_AS (CUDA could not start), sampled instead.

The GPUs are fake (`GpuDevice` given to the runtime); what matters is that the spec has some.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlkube.runtime.base import GpuDevice
from mlkube.runtime.local import LocalRuntime

GPU = GpuDevice(0, "nvidia", "H200", 141 << 30, "GPU-aaaa")
LIMIT = 64 << 20
ISOLATIONS = ["fork", "process"]
WATCHDOG = re.compile(
    r"memory limit 64Mi exceeded \(resident (\d+(?:\.\d)?)Mi; enforced by sampling: no memory "
    r"cgroup, and GPU workloads cannot use an address-space limit\)"
)


@pytest.fixture
def gpu_runtime(exits) -> Iterator[LocalRuntime]:
    """Fake GPUs, cgroups disabled: GPU workloads' memory limits are enforced by sampling."""
    rt = LocalRuntime(gpus=(GPU,), sample_interval=0.05, cgroup_root="")
    rt.set_exit_handler(exits)
    yield rt
    rt.close(grace_seconds=1)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_gpu_workload_over_its_limit_is_killed_by_sampling(
    gpu_runtime, exits, python_spec, isolation
):
    spec = python_spec(
        "g-oom",
        "allocate_and_hold",
        "300",
        memory_limit_bytes=LIMIT,
        gpus=(GPU,),
        isolation=isolation,
    )
    gpu_runtime.launch(spec)
    result = exits.wait("g-oom")
    assert (result.reason, result.signal) == ("OOMKilled", 9)
    match = WATCHDOG.fullmatch(result.message)
    assert match is not None, result.message
    assert float(match.group(1)) > 64
    # Killed from outside (maybe while still touching pages), not failed by an rlimit.
    assert "MemoryError" not in Path(spec.log_path).read_text()


def test_gpu_command_workload_is_killed_by_sampling_too(gpu_runtime, exits, command_spec):
    script = (
        "import time; b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(60)"
    )
    spec = command_spec("g-cmd", "python3", "-c", script, memory_limit_bytes=LIMIT, gpus=(GPU,))
    gpu_runtime.launch(spec)
    result = exits.wait("g-cmd")
    assert result.reason == "OOMKilled"
    assert WATCHDOG.fullmatch(result.message), result.message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_gpu_workload_may_reserve_address_space(gpu_runtime, exits, python_spec, isolation):
    # What CUDA does at start-up, and what RLIMIT_AS broke: 8 GiB mapped, none of it touched.
    spec = python_spec(
        "g-map", "map_untouched", "8", memory_limit_bytes=LIMIT, gpus=(GPU,), isolation=isolation
    )
    gpu_runtime.launch(spec)
    result = exits.wait("g-map")
    assert result.reason == "Completed", (result.message, Path(spec.log_path).read_text())


def test_pages_shared_with_forked_children_count_once(gpu_runtime, exits, python_spec):
    # 4 processes each map the same 40 MiB: RSS sums to over 160 MiB, resident memory is not.
    spec = python_spec(
        "g-share",
        "share_with_children",
        "40",
        "3",
        "1.0",
        memory_limit_bytes=128 << 20,
        gpus=(GPU,),
    )
    gpu_runtime.launch(spec)
    result = exits.wait("g-share")
    assert result.reason == "Completed", result.message
    usage = gpu_runtime.usage("g-share")
    assert usage is not None and usage.max_memory_bytes > 128 << 20  # the RSS sum was over


def test_non_gpu_workload_still_gets_an_address_space_limit(rlimit_runtime, exits, python_spec):
    spec = python_spec("c-map", "map_untouched", "8", memory_limit_bytes=LIMIT)
    rlimit_runtime.launch(spec)
    result = exits.wait("c-map")
    assert result.reason == "Error"
    assert "Cannot allocate memory" in Path(spec.log_path).read_text()


def test_gpu_workload_keeps_the_cgroup_where_there_is_one(need_cgroups, exits, python_spec):
    with LocalRuntime(gpus=(GPU,), sample_interval=0.05) as rt:
        rt.set_exit_handler(exits)
        spec = python_spec("g-cg", "allocate", "256", memory_limit_bytes=LIMIT, gpus=(GPU,))
        rt.launch(spec)
        result = exits.wait("g-cg")
    assert (result.reason, result.message) == ("OOMKilled", "memory limit 64Mi exceeded")


def test_the_mechanism_is_logged_once(gpu_runtime, exits, python_spec, caplog):
    caplog.set_level(logging.INFO, logger="mlkube.runtime.local.limits")
    for name in ("g-log-1", "g-log-2"):
        gpu_runtime.launch(python_spec(name, "hello", memory_limit_bytes=LIMIT << 2, gpus=(GPU,)))
    assert [exits.wait(n).reason for n in ("g-log-1", "g-log-2")] == ["Completed"] * 2
    lines = [r.getMessage() for r in caplog.records if "GPU workloads" in r.getMessage()]
    assert len(lines) == 1
    assert "resident memory sampled every 0.05s" in lines[0]
