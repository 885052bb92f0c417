"""From a WorkloadSpec to the fork server's request: environment and program."""

from __future__ import annotations

import sys

import pytest

from mlkube.runtime.base import GpuDevice, PythonTarget, WorkloadSpec
from mlkube.runtime.local.plan import ENTRY_CODE, launch_request, workload_env
from mlkube.runtime.local.protocol import child_request, decode, encode

BASE = {"PATH": "/usr/bin", "HOME": "/root", "ROCR_VISIBLE_DEVICES": "0,1", "KEEP": "1"}


def _spec(**fields):
    fields.setdefault("python", PythonTarget("pkg.mod", "main", ("a", "b")))
    fields.setdefault("env", {})
    return WorkloadSpec("run-1-step", cwd="/work", log_path="/logs/x.log", **fields)


def test_env_is_base_then_spec_then_runtime_owned_variables():
    spec = _spec(
        env={"KEEP": "2", "NEW": "x", "MLKUBE_WORKLOAD_ID": "spoof", "CUDA_VISIBLE_DEVICES": "0"}
    )
    assert workload_env(BASE, spec) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "KEEP": "2",
        "NEW": "x",
        "MLKUBE_WORKLOAD_ID": "run-1-step",
        "CUDA_VISIBLE_DEVICES": "",
        "HIP_VISIBLE_DEVICES": "",
    }


def test_gpu_grant_reaches_the_env():
    spec = _spec(gpus=(GpuDevice(1, "nvidia", "A100", 40 << 30),))
    env = workload_env(BASE, spec)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_warm_python_request_runs_in_place_with_preload():
    request = launch_request(
        _spec(preload=("sklearn", "/src/steps.py"), cpus=(2, 3), memory_limit_bytes=1 << 30),
        base_env=BASE,
        cgroup_procs="/cg/1-x/cgroup.procs",
    )
    assert request["argv"] is None
    assert request["target"] == ["pkg.mod", "main", "a", "b"]
    assert request["preload"] == ["sklearn", "/src/steps.py"]
    assert (request["cpus"], request["memory_limit"]) == ([2, 3], 1 << 30)
    assert request["cgroup_procs"] == "/cg/1-x/cgroup.procs"


def test_fresh_python_request_execs_the_entry_module():
    request = launch_request(
        _spec(isolation="process", preload=("sklearn",)),
        base_env=BASE,
        cgroup_procs=None,
        python_executable="/venv/bin/python",
    )
    assert request["argv"] == ["/venv/bin/python", "-c", ENTRY_CODE, "pkg.mod", "main", "a", "b"]
    assert request["target"] is None
    assert request["preload"] == []  # a fresh interpreter has nothing warm to preload into


def test_command_request_execs_the_command():
    spec = WorkloadSpec("c", command=("sh", "-c", "true"), env={}, cwd="/", log_path="/l")
    request = launch_request(spec, base_env={}, cgroup_procs=None)
    assert (request["argv"], request["target"], request["preload"]) == (
        ["sh", "-c", "true"],
        None,
        [],
    )
    assert request["env"]["MLKUBE_WORKLOAD_ID"] == "c"


def test_default_python_executable_is_ours():
    request = launch_request(_spec(isolation="process"), base_env={}, cgroup_procs=None)
    assert request["argv"] is not None and request["argv"][0] == sys.executable


def test_child_request_sends_only_environment_changes():
    request = launch_request(_spec(env={"KEEP": "2"}), base_env=BASE, cgroup_procs=None)
    child = child_request(request, {**BASE, "SERVER_ONLY": "z"})
    assert child["env_set"] == {
        "KEEP": "2",
        "MLKUBE_WORKLOAD_ID": "run-1-step",
        "CUDA_VISIBLE_DEVICES": "",
        "HIP_VISIBLE_DEVICES": "",
    }
    assert sorted(child["env_unset"]) == ["ROCR_VISIBLE_DEVICES", "SERVER_ONLY"]
    assert decode(encode(child)) == child


def test_decode_rejects_non_objects():
    with pytest.raises(ValueError):
        decode(b"[1, 2]\n")
