"""Turn an admitted step into a `WorkloadSpec` for the runtime (its invocation is written by
the controller's `StepExchange`, see `exchange`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from mlkube.api.meta import GROUP_VERSION
from mlkube.api.pipeline import StepSpec
from mlkube.api.resources import format_gpus
from mlkube.api.workload_labels import step_labels
from mlkube.controllers.pipelinerun.exchange import EXECUTOR, ExecutorCall
from mlkube.controllers.pipelinerun.volumes import StepVolumes
from mlkube.runtime.base import GpuDevice, WorkloadOwner, WorkloadSpec
from mlkube.scheduling.node_fit import Grant
from mlkube.storage.cache import cache_key, source_fingerprint


@dataclass(frozen=True)
class StepAttempt:
    """Everything that names one attempt of one step of one run."""

    namespace: str
    run: str
    run_uid: str
    step: str
    attempt: int

    @property
    def workload_id(self) -> str:
        return f"{self.namespace}/{self.run}/{self.run_uid[:8]}/{self.step}/{self.attempt}"

    @property
    def owner(self) -> WorkloadOwner | None:
        """The run, which the attempt's pod lives as long as (None for a run with no uid)."""
        if not self.run_uid:
            return None
        return WorkloadOwner(GROUP_VERSION, "PipelineRun", self.run, self.run_uid)


# InferenceService replicas share these key shapes, with `~SERVICE` for `run` and `REV.rN` for
# `step` (see controllers.serving.replicas), so the node queue keeps both kinds in one table.


def run_key_of(workload_id: str) -> str:
    """`ns/run/uid/step/attempt` → `ns/run`."""
    return "/".join(workload_id.split("/")[:2])


def step_key_of(workload_id: str) -> str:
    """`ns/run/uid/step/attempt` → `ns/run/step`, the key a step waits under."""
    ns, run, _, step, _ = workload_id.split("/")
    return f"{ns}/{run}/{step}"


def run_of(step_key: str) -> str:
    """`ns/run/step` → `ns/run`."""
    return step_key.rsplit("/", 1)[0]


def step_cache_key(step: StepSpec, inputs: dict[str, dict[str, Any]]) -> str:
    """The cache key of a step: its code, how it is called, and its resolved inputs."""
    material: dict[str, Any] = {
        "inputs": {
            k: (v["artifact"]["digest"] if "artifact" in v else {"value": v.get("value")})
            for k, v in inputs.items()
        },
        "outputs": step.outputs,
        "env": [e.to_dict() for e in step.env],
    }
    if step.python is not None:
        material["python"] = step.python.to_dict()
        shipped = step.python.source
        material["code"] = (
            "sha256:" + hashlib.sha256(shipped.encode()).hexdigest()
            if shipped is not None
            else source_fingerprint(step.python.module)
        )
    else:
        material["command"] = [*(step.command or []), *step.args]
    return cache_key(material)


def workload_spec(
    attempt: StepAttempt,
    step: StepSpec,
    *,
    call: ExecutorCall,
    grant: Grant,
    gpus: tuple[GpuDevice, ...],
    volumes: StepVolumes | None = None,
) -> WorkloadSpec:
    """The runtime's view of the attempt: what to run, where, and with which resources."""
    folder = call.folder
    env = {e.name: e.value for e in step.env}
    env.update(
        MLKUBE_NAMESPACE=attempt.namespace,
        MLKUBE_RUN=attempt.run,
        MLKUBE_STEP=attempt.step,
        MLKUBE_ATTEMPT=str(attempt.attempt),
    )
    env.update(gpu_share_env(grant))
    env.update(call.env)
    env.update(volumes.env if volumes else {})  # MLKUBE_VOLUME_*: where each volume is
    preload: tuple[str, ...] = ()
    cwd = step.working_dir or call.cwd or str(folder)
    if step.python is not None:
        preload = (EXECUTOR.module, step.python.module)
        if step.working_dir is None and call.cwd is None and step.python.module.endswith(".py"):
            cwd = os.path.dirname(step.python.module)
    return WorkloadSpec(
        id=attempt.workload_id,
        python=call.python,
        command=call.command,
        mounts=volumes.mounts if volumes else (),
        env=env,
        cwd=cwd,
        log_path=str(folder / "log"),
        cpus=grant.cores or None,
        memory_limit_bytes=grant.memory_bytes or None,
        gpus=gpus,
        isolation=step.isolation,
        preload=preload,
        labels=step_labels(attempt.run, attempt.step, attempt.attempt),
        owner=attempt.owner,
    )


def gpu_share_env(grant: Grant) -> dict[str, str]:
    """What a step granted part of a GPU is told: `MLKUBE_GPU_FRACTION` (its share of the one
    device it sees, e.g. `0.25`) and, for a share sized by `gpuMemory`,
    `MLKUBE_GPU_MEMORY_BYTES`. Both are scheduling shares, as with NVIDIA time-slicing: nothing
    caps the step's GPU memory or compute, so a framework must be told to keep to them (for
    PyTorch, `torch.cuda.set_per_process_memory_fraction`). Empty for whole GPUs."""
    choice = grant.gpu_choice
    if not grant.gpus or choice is None or not choice.shared:
        return {}
    env = {"MLKUBE_GPU_FRACTION": format_gpus(grant.gpu_millis)}
    if choice.memory_bytes:
        env["MLKUBE_GPU_MEMORY_BYTES"] = str(choice.memory_bytes)
    return env


def granted_alternative(step: StepSpec, grant: Grant) -> int | None:
    """Which entry of the step's `gpuAlternatives` the grant is for; None without a list."""
    if not step.resources.gpu_alternatives or grant.gpu_choice is None:
        return None
    choices = step.resources.gpu_choices()
    return choices.index(grant.gpu_choice) if grant.gpu_choice in choices else None
