"""The runtime seam: plain data in, plain data out, and the `Runtime` protocol.

A runtime launches, stops and observes *workloads* (one pipeline step attempt is one workload).
It knows nothing of pipelines, steps or the store: controllers translate their objects into a
`WorkloadSpec`, and learn of the outcome through a `WorkloadExit` delivered to the exit handler.

Every backend (`local` processes, `kubernetes` pods, `sim`) and the `FakeRuntime` in
`mlkube.testing` implements the same contract, written in the docstrings of `Runtime` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, get_args

__all__ = [
    "ClaimMount",
    "ExitHandler",
    "ExitReason",
    "GpuDevice",
    "GpuVendor",
    "Isolation",
    "NodeInfo",
    "PythonTarget",
    "Runtime",
    "Usage",
    "WorkloadExit",
    "WorkloadOwner",
    "WorkloadSpec",
]

GpuVendor = Literal["nvidia", "amd"]
Isolation = Literal["fork", "process"]
ExitReason = Literal["Completed", "Error", "OOMKilled", "Killed", "LaunchFailed"]


@dataclass(frozen=True)
class GpuDevice:
    """One GPU of the node. `index` is the vendor's device index (NVML / ROCm order)."""

    index: int
    vendor: GpuVendor
    model: str
    memory_bytes: int
    uuid: str = ""


@dataclass(frozen=True)
class NodeInfo:
    """What the node really offers to workloads.

    `cpus` are the core ids in our own affinity mask; `memory_bytes` is the smaller of the
    physical RAM and our own cgroup's limit; `gpus` are the devices found (or configured).
    """

    name: str
    cpus: tuple[int, ...]
    memory_bytes: int
    gpus: tuple[GpuDevice, ...]


@dataclass(frozen=True)
class PythonTarget:
    """Call `module.function(*args)` in the workload process.

    `module` is a dotted module name or a path to a `.py` file. The function's return value is
    the exit code (None -> 0); an uncaught exception prints its traceback to the log and exits 1.
    The function sees `sys.argv == [module, *args]`, as under `python -m`.
    """

    module: str
    function: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimMount:
    """A PersistentVolumeClaim the workload mounts at `mount_path` (`sub_path`: a folder of
    the volume instead of its root). Cluster runtimes mount it; the local runtime ignores it,
    as the workload's `env` already names the volume's folder on this machine."""

    volume: str
    claim_name: str
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None


@dataclass(frozen=True)
class WorkloadOwner:
    """The object a workload serves (a PipelineRun, a TrainingJob), as a Kubernetes owner
    reference names it. Cluster runtimes make it the owner of the workload's pod, so the pod
    lives as long as that object and Kubernetes' garbage collector deletes it with it."""

    api_version: str
    kind: str
    name: str
    uid: str

    def __post_init__(self) -> None:
        for name in ("api_version", "kind", "name", "uid"):
            if not getattr(self, name):
                raise ValueError(f"WorkloadOwner: {name}: must not be empty")


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything a runtime needs to start one workload; exactly one of `command` / `python`.

    - `env` is laid over the runtime's own environment; the runtime then sets
      `MLKUBE_WORKLOAD_ID` and the GPU visibility variables, which the spec cannot override.
    - `cwd` must exist; `log_path` receives stdout and stderr (appended, line-buffered).
    - `cpus` pins the workload to those core ids; `memory_limit_bytes` is enforced, not advisory.
    - `isolation="fork"` runs a Python target in a child of a warm worker that has already
      imported `preload` (module names or absolute `.py` paths); `"process"` starts a fresh
      interpreter. Command workloads always get a fresh program image.
    - `mounts` are volumes for runtimes that mount them (see `ClaimMount`).
    - `labels` (valid Kubernetes label keys and values) say which object the workload serves
      (`mlkube.api.workload_labels`); `owner` is that object. Cluster runtimes put both on the
      pod (labels to find it by, the owner to keep it until the object is deleted); the local
      runtime ignores them.
    """

    id: str
    _: KW_ONLY
    command: tuple[str, ...] | None = None
    python: PythonTarget | None = None
    env: Mapping[str, str]
    cwd: str
    log_path: str
    cpus: tuple[int, ...] | None = None
    memory_limit_bytes: int | None = None
    gpus: tuple[GpuDevice, ...] = ()
    isolation: Isolation = "fork"
    preload: tuple[str, ...] = ()
    mounts: tuple[ClaimMount, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: WorkloadOwner | None = None

    def __post_init__(self) -> None:
        # A frozen spec must not change under us when the caller later mutates its dicts.
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        problem = _spec_problem(self)
        if problem:
            raise ValueError(f"WorkloadSpec {self.id!r}: {problem}")


def _spec_problem(spec: WorkloadSpec) -> str:
    """The first thing wrong with `spec`, naming the field, or "" when it is valid."""
    checks: list[tuple[bool, str]] = [
        (not spec.id, "id: must not be empty"),
        ((spec.command is None) == (spec.python is None), "set exactly one of command, python"),
        (spec.command is not None and not spec.command, "command: must not be empty"),
        (not spec.cwd, "cwd: must not be empty"),
        (not spec.log_path, "log_path: must not be empty"),
        (spec.cpus is not None and not spec.cpus, "cpus: must not be empty when given"),
        (spec.cpus is not None and len(set(spec.cpus)) != len(spec.cpus), "cpus: duplicates"),
        (
            spec.memory_limit_bytes is not None and spec.memory_limit_bytes <= 0,
            "memory_limit_bytes: must be positive",
        ),
        (spec.isolation not in get_args(Isolation), "isolation: must be 'fork' or 'process'"),
    ]
    return next((message for failed, message in checks if failed), "") or _labels_problem(spec)


def _labels_problem(spec: WorkloadSpec) -> str:
    if not spec.labels:
        return ""
    # Imported here: the label rules pull in pydantic, which the processes that only run
    # workloads (a fresh interpreter per step) should not pay for at every start.
    from mlkube.api.labels import validate_labels

    causes = validate_labels(spec.labels, field="labels")
    return f"{causes[0].field}: {causes[0].message}" if causes else ""


@dataclass(frozen=True)
class WorkloadExit:
    """How a workload ended.

    `reason` is `Completed` (exit 0), `Error` (non-zero exit), `OOMKilled` (memory limit hit),
    `Killed` (stopped by us, or killed by a signal) or `LaunchFailed` (never got to run its
    target). `exit_code` is set when the process exited, `signal` when a signal killed it.
    `message` is for humans: `exit code 3`, `killed by SIGSEGV`, `memory limit 64Mi exceeded`.
    """

    id: str
    exit_code: int | None
    signal: int | None
    reason: ExitReason
    message: str
    finished_at: float


@dataclass(frozen=True)
class Usage:
    """Resource use of a running or finished workload (its whole process tree).

    `cpu_cores` / `memory_bytes` are the latest sample (0 once it has exited); the `max_`
    fields are peaks; the `avg_` fields are means over its life so far. `samples` counts the
    periodic samples taken.
    """

    cpu_cores: float
    memory_bytes: int
    max_cpu_cores: float
    max_memory_bytes: int
    samples: int
    avg_cpu_cores: float = 0.0
    avg_memory_bytes: int = 0


ExitHandler = Callable[[WorkloadExit], None]


class Runtime(Protocol):
    """Launches, stops and observes workloads on one node. Safe to call from any thread."""

    def node(self) -> NodeInfo:
        """What this node offers (cpus, memory, GPUs). Cheap; may be called often."""
        ...

    def launch(self, spec: WorkloadSpec) -> int:
        """Start the workload and return at once with its pid (0 when there is no process).

        Idempotent on `spec.id`: while an id is known (running, or finished but not yet
        forgotten) launching it again starts nothing and returns the same pid. A workload
        that cannot be started is not an exception: its `LaunchFailed` exit goes to the exit
        handler like any other. The handler may run before `launch` returns.
        Raises `ValueError` only for a spec this runtime cannot express, `RuntimeError` after
        `close()`.
        """
        ...

    def start(self, spec: WorkloadSpec) -> None:
        """`launch` without waiting for the process to exist: same idempotence and error
        reporting, but it returns as soon as the request is handed over. Controllers use it so
        that starting a step never blocks their loop on a fork."""
        ...

    def stop(self, id: str, *, grace_seconds: float) -> None:
        """SIGTERM the workload's whole process group, SIGKILL it after `grace_seconds`.

        Returns at once; the exit arrives through the handler with reason `Killed` (or
        `OOMKilled` if the memory limit killed it first). Stopping an unknown or finished id
        is not an error and does nothing.
        """
        ...

    def set_exit_handler(self, handler: ExitHandler) -> None:
        """Set the callback that receives each `WorkloadExit`.

        Called from a runtime thread, exactly once per launched workload, never concurrently
        with itself. Exits that happen before a handler is set are kept and delivered when it
        is set. An exception raised by the handler is logged and does not stop delivery.
        """
        ...

    def running(self) -> set[str]:
        """Ids launched whose exit has not yet been delivered to the handler."""
        ...

    def usage(self, id: str) -> Usage | None:
        """Usage of a running or finished workload; None if unknown, forgotten, or never ran."""
        ...

    def forget(self, id: str) -> None:
        """Drop a finished workload's record (usage, idempotency). Running ids are left alone."""
        ...

    def close(self) -> None:
        """Stop everything this runtime launched, release its helpers; idempotent.

        Exits of the workloads it stops are still delivered to the handler before it returns.
        """
        ...
