"""Limits are enforced, not decorative: CPU pinning, memory (cgroup and rlimit), GPU visibility."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlkube.runtime.base import GpuDevice
from mlkube.runtime.local import LocalRuntime
from mlkube.runtime.local.cgroups import own_cgroup_dir

ISOLATIONS = ["fork", "process"]
LIMIT = 64 << 20


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_python_workload_sees_exactly_the_requested_cpus(
    runtime, exits, python_spec, tmp_path, isolation
):
    wanted = (runtime.node().cpus[-1],)
    out = tmp_path / "facts.json"
    runtime.launch(python_spec("w-pin", "write_facts", str(out), cpus=wanted, isolation=isolation))
    assert exits.wait("w-pin").reason == "Completed"
    assert json.loads(out.read_text())["affinity"] == list(wanted)


def test_command_workload_sees_exactly_the_requested_cpus(runtime, exits, command_spec):
    wanted = (runtime.node().cpus[0],)
    spec = command_spec(
        "c-pin", "sh", "-c", "grep Cpus_allowed_list /proc/self/status", cpus=wanted
    )
    runtime.launch(spec)
    assert exits.wait("c-pin").reason == "Completed"
    assert Path(spec.log_path).read_text().split() == ["Cpus_allowed_list:", str(wanted[0])]


def test_pinning_to_a_core_we_do_not_have_is_launch_failed(runtime, exits, python_spec):
    runtime.launch(python_spec("w-badcpu", "hello", cpus=(4095,)))
    result = exits.wait("w-badcpu")
    assert result.reason == "LaunchFailed"
    assert "cannot pin to cpus [4095]" in result.message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cgroup_memory_limit_oom_kills(
    need_cgroups, runtime, exits, python_spec, isolation, eventually
):
    runtime.launch(
        python_spec("w-oom", "allocate", "256", memory_limit_bytes=LIMIT, isolation=isolation)
    )
    result = exits.wait("w-oom")
    assert (result.reason, result.signal) == ("OOMKilled", 9)
    assert result.message == "memory limit 64Mi exceeded"
    usage = runtime.usage("w-oom")
    assert usage is not None and usage.max_memory_bytes >= LIMIT * 9 // 10
    # Its cgroup is removed after the exit.
    eventually(lambda: not _workload_cgroups(), what="cgroup removal")


def test_command_workload_is_oom_killed_too(need_cgroups, runtime, exits, command_spec):
    script = "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096])"
    runtime.launch(command_spec("c-oom", "python3", "-c", script, memory_limit_bytes=LIMIT))
    assert exits.wait("c-oom").reason == "OOMKilled"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_rlimit_fallback_reports_memory_error_as_oom(rlimit_runtime, exits, python_spec, isolation):
    spec = python_spec("w-rl", "allocate", "256", memory_limit_bytes=LIMIT, isolation=isolation)
    rlimit_runtime.launch(spec)
    result = exits.wait("w-rl")
    assert (result.reason, result.exit_code) == ("OOMKilled", 251)
    assert result.message == "memory limit 64Mi exceeded (MemoryError)"
    assert "MemoryError" in Path(spec.log_path).read_text()


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("cgroups", [True, False])
def test_allocation_within_the_limit_completes(
    cgroups, cgroups_available, exits, python_spec, isolation
):
    if cgroups and not cgroups_available:
        pytest.skip("no writable cgroup v1 memory controller")
    with LocalRuntime(cgroup_root=None if cgroups else "") as rt:
        rt.set_exit_handler(exits)
        rt.launch(
            python_spec(
                "w-fits", "allocate", "16", memory_limit_bytes=128 << 20, isolation=isolation
            )
        )
        assert exits.wait("w-fits").reason == "Completed"


def _workload_cgroups() -> list[str]:
    """Workload cgroup directories of the runtimes in this (test) process."""
    proc = Path("/proc/self")
    own = own_cgroup_dir((proc / "cgroup").read_text(), (proc / "mountinfo").read_text())
    assert own is not None
    bases = [e.path for e in os.scandir(own) if e.name.startswith(f"mlkube-{os.getpid()}-")]
    return [e.path for base in bases for e in os.scandir(base) if e.is_dir()]


GPU_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
)
NVIDIA = (
    GpuDevice(0, "nvidia", "H100", 80 << 30, "GPU-aaaa"),
    GpuDevice(1, "nvidia", "H100", 80 << 30, ""),
    GpuDevice(2, "nvidia", "H100", 80 << 30, "GPU-cccc"),
)
AMD = (
    GpuDevice(0, "amd", "MI300X", 192 << 30),
    GpuDevice(1, "amd", "MI300X", 192 << 30),
    GpuDevice(2, "amd", "MI300X", 192 << 30),
)


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        (
            (NVIDIA[1], NVIDIA[2]),
            {
                "CUDA_VISIBLE_DEVICES": "1,GPU-cccc",
                "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                "HIP_VISIBLE_DEVICES": "",
                "ROCR_VISIBLE_DEVICES": None,
            },
        ),
        (
            (AMD[1], AMD[2]),
            {
                "CUDA_VISIBLE_DEVICES": "",
                "CUDA_DEVICE_ORDER": None,
                "HIP_VISIBLE_DEVICES": "0,1",
                "ROCR_VISIBLE_DEVICES": "1,2",
            },
        ),
        (
            (),
            {
                "CUDA_VISIBLE_DEVICES": "",
                "CUDA_DEVICE_ORDER": None,
                "HIP_VISIBLE_DEVICES": "",
                "ROCR_VISIBLE_DEVICES": None,
            },
        ),
    ],
    ids=["nvidia", "amd", "none"],
)
@pytest.mark.parametrize("kind", ["fork", "process", "command"])
def test_gpu_visibility_env(exits, python_spec, command_spec, tmp_path, granted, expected, kind):
    out = tmp_path / "gpus.json"
    # A spec trying to widen its own grant is overridden by the runtime.
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2", "HIP_VISIBLE_DEVICES": "0,1,2"}
    if kind == "command":
        script = (
            f"import json, os; print(json.dumps({{n: os.environ.get(n) for n in {GPU_VARS!r}}}))"
        )
        spec = command_spec("g", "python3", "-c", script, gpus=granted, env=env)
    else:
        spec = python_spec(
            "g", "write_env", str(out), *GPU_VARS, gpus=granted, env=env, isolation=kind
        )
    with LocalRuntime(gpus=NVIDIA + AMD) as rt:
        rt.set_exit_handler(exits)
        rt.launch(spec)
        assert exits.wait("g").reason == "Completed"
    seen = json.loads(Path(spec.log_path).read_text() if kind == "command" else out.read_text())
    if os.environ.get("CUDA_DEVICE_ORDER") and expected["CUDA_DEVICE_ORDER"] is None:
        expected = {**expected, "CUDA_DEVICE_ORDER": os.environ["CUDA_DEVICE_ORDER"]}
    assert seen == expected
