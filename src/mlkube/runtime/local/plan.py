"""Turn a `WorkloadSpec` into the fork server's launch request. Pure: no I/O, no clock.

How each kind of workload runs (all forked by the fork server, see `forkserver.py`):

| spec                               | in the forked child                                   |
| ---------------------------------- | ----------------------------------------------------- |
| python, isolation="fork" (default) | run the target in place, `preload` already imported   |
| python, isolation="process"        | exec `python -m mlkube.runtime.local.entry M F ARGS`  |
| command                            | exec the command (PATH looked up in the workload env) |

How a memory limit is enforced (`choose_memory_enforcement`):

| memory cgroup v1 | GPUs | mechanism                                                        |
| ---------------- | ---- | ---------------------------------------------------------------- |
| yes              | any  | "cgroup": the kernel charges and OOM-kills (`cgroups.py`)        |
| no               | none | "rlimit": RLIMIT_AS in the child; allocation fails (MemoryError) |
| no               | some | "watchdog": the runtime samples resident memory (`memwatch.py`)  |

GPU workloads never get RLIMIT_AS: CUDA and ROCm reserve huge virtual address ranges for
unified addressing, far beyond any RAM limit, and fail to start under one.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Literal

from mlkube.runtime.base import WorkloadSpec
from mlkube.runtime.local.gpus import gpu_env
from mlkube.runtime.local.protocol import LaunchRequest

__all__ = [
    "ENTRY_CODE",
    "ENTRY_MODULE",
    "WORKLOAD_ID_ENV",
    "MemoryEnforcement",
    "choose_memory_enforcement",
    "launch_request",
    "workload_env",
]

ENTRY_MODULE = "mlkube.runtime.local.entry"
# `-c` rather than `-m ENTRY_MODULE`: runpy and its imports cost a fresh interpreter ~4 ms.
ENTRY_CODE = f"import sys; from {ENTRY_MODULE} import main; sys.exit(main(sys.argv[1:]))"
WORKLOAD_ID_ENV = "MLKUBE_WORKLOAD_ID"

MemoryEnforcement = Literal["cgroup", "rlimit", "watchdog"]


def choose_memory_enforcement(*, cgroups: bool, gpus: bool) -> MemoryEnforcement:
    """How a workload's memory limit is enforced, by the table in this module's docstring.

    `cgroups`: this runtime can create memory cgroups; `gpus`: the workload is granted GPUs.
    """
    if cgroups:
        return "cgroup"
    return "watchdog" if gpus else "rlimit"


def workload_env(base: Mapping[str, str], spec: WorkloadSpec) -> dict[str, str]:
    """The workload's whole environment: `base`, then `spec.env`, then what the runtime owns.

    The runtime's variables (`MLKUBE_WORKLOAD_ID` and GPU visibility) come last so a spec
    cannot widen its own GPU grant.
    """
    env = {**base, **spec.env}
    for name, value in gpu_env(spec.gpus).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env[WORKLOAD_ID_ENV] = spec.id
    return env


def launch_request(
    spec: WorkloadSpec,
    *,
    base_env: Mapping[str, str],
    cgroup_procs: str | None,
    address_space_limit: bool = True,
    python_executable: str = sys.executable,
) -> LaunchRequest:
    """The `launch` message for `spec`.

    `cgroup_procs` None means no cgroup: the child then limits its address space to the
    memory limit (RLIMIT_AS), unless `address_space_limit` is False (the "watchdog"
    mechanism), when the request carries no memory limit at all.
    """
    argv: list[str] | None = None
    target: list[str] | None = None
    if spec.command is not None:
        argv = list(spec.command)
    elif spec.python is not None:
        call = [spec.python.module, spec.python.function, *spec.python.args]
        if spec.isolation == "process":
            argv = [python_executable, "-c", ENTRY_CODE, *call]
        else:
            target = call
    return {
        "op": "launch",
        "id": spec.id,
        "argv": argv,
        "target": target,
        "preload": list(spec.preload) if target is not None else [],
        "env": workload_env(base_env, spec),
        "cwd": spec.cwd,
        "log_path": spec.log_path,
        "cpus": list(spec.cpus) if spec.cpus is not None else None,
        "cgroup_procs": cgroup_procs,
        "memory_limit": spec.memory_limit_bytes if address_space_limit else None,
    }
