"""A `WorkloadSpec` → the one Pod that runs it on a cluster (pure, dicts out).

What the `KubernetesRuntime` creates for each workload it launches:

- the name: a DNS-1123 label made of the workload id's parts (`ns/run/uid/step/attempt` →
  `ns-run-uid-step-attempt`), shortened with a digest when it does not fit; the same name is
  the value of the label `mlkube.io/workload`, which the runtime's watch selects on, and the
  full id is kept in the annotation `mlkube.io/workload-id`;
- the spec's own `labels` beside ours (which object it serves: `api.workload_labels`), and
  its `owner` as the pod's controller owner reference, with `blockOwnerDeletion: false`: the
  garbage collector deletes the pod with its run or job, and the operator needs no right to
  set finalizers on our kinds (which blocking the owner's deletion would ask for);
- the command: the spec's own, or for a Python target `python -m mlkube.runtime.local.entry
  MODULE FUNCTION ARGS...`, the fresh-interpreter form of the local runtime (the image holds
  mlkube; `isolation` and `preload` have no meaning in a pod, which is always a fresh process);
- the environment: the spec's, then `MLKUBE_WORKLOAD_ID`; `workingDir` is the spec's `cwd`;
- resources: `len(spec.cpus)` whole cores and `memory_limit_bytes`, as requests and limits
  (the local runtime pins and caps them, so the pod is Guaranteed-like); GPUs as a count of the
  vendor's extended resource with the devices' model as a node selector (the builders' GPU
  helpers); a share of a GPU, marked by `MLKUBE_GPU_FRACTION` / `MLKUBE_GPU_MEMORY_BYTES` in the
  spec's env, asks for one `nvidia.com/gpu.shared`;
- volumes: each of the spec's `mounts` as a `persistentVolumeClaim` volume and a
  `volumeMounts` entry beside the `/tmp` one (`runtime.kubernetes.volumes`);
- `restartPolicy: Never`: the controllers own retries, as with a step's Job.

The spec's `log_path` is not a pod's business: the runtime copies the pod's log there when it
ends. Its `cwd` and the paths inside a step's invocation are this machine's: on a real
cluster they need storage the pods share (see the README's cluster section).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlkube.api.quantity import format_bytes
from mlkube.api.resources import GpuChoice
from mlkube.api.workload_labels import WORKLOAD_CONTAINER
from mlkube.runtime.base import GpuDevice, WorkloadOwner, WorkloadSpec
from mlkube.runtime.kubernetes.gpus import GpuScheduling, gpu_scheduling
from mlkube.runtime.kubernetes.names import dns_label
from mlkube.runtime.kubernetes.pods import container, labels, object_meta, pod_spec
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.runtime.kubernetes.volumes import claim_volumes, volume_mounts

WORKLOAD_LABEL = "mlkube.io/workload"
WORKLOAD_ANNOTATION = "mlkube.io/workload-id"
ENTRY_COMMAND = ("python", "-m", "mlkube.runtime.local.entry")
_SHARE_ENV = ("MLKUBE_GPU_FRACTION", "MLKUBE_GPU_MEMORY_BYTES")


def pod_name(workload_id: str) -> str:
    """The pod's name and its `mlkube.io/workload` label value for `workload_id`."""
    return dns_label(*workload_id.split("/"))


def workload_id_of(pod: Mapping[str, Any]) -> str | None:
    """The full workload id a pod of ours carries, or None for any other pod."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(WORKLOAD_ANNOTATION)
    return value if isinstance(value, str) and value else None


def workload_command(spec: WorkloadSpec) -> list[str]:
    """What the pod's container runs (see the module docstring)."""
    if spec.command is not None:
        return list(spec.command)
    assert spec.python is not None  # a WorkloadSpec has exactly one of the two
    target = spec.python
    return [*ENTRY_COMMAND, target.module, target.function, *target.args]


def workload_pod(spec: WorkloadSpec, namespace: str, settings: ClusterSettings) -> dict[str, Any]:
    """The Pod for `spec` in `namespace`. Raises `TranslationError` (a `ValueError`) for GPUs
    the cluster settings cannot express."""
    name = pod_name(spec.id)
    gpus = _gpu_scheduling(spec, settings)
    env = {**gpus.env, **spec.env, "MLKUBE_WORKLOAD_ID": spec.id}
    main = container(
        WORKLOAD_CONTAINER,
        command=workload_command(spec),
        env=env,
        resources=_resources(spec, gpus, settings),
        settings=settings,
    )
    main["workingDir"] = spec.cwd
    main["volumeMounts"] += volume_mounts(spec.mounts)
    meta = object_meta(name, namespace, labels=_pod_labels(spec, name), owner=_owner(spec.owner))
    meta["annotations"] = {WORKLOAD_ANNOTATION: spec.id}
    pod = pod_spec(main, gpus, settings, restart_policy="Never")
    pod["volumes"] += claim_volumes(spec.mounts)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod}


def _pod_labels(spec: WorkloadSpec, name: str) -> dict[str, str]:
    """The spec's labels, then ours: the runtime's watch selects on `mlkube.io/workload`,
    which a spec's label must not override."""
    run = spec.id.split("/")[1] if "/" in spec.id else spec.id
    return {**spec.labels, **labels("workload", run, workload=name)}


def _owner(owner: WorkloadOwner | None) -> dict[str, Any] | None:
    if owner is None:
        return None
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def _resources(
    spec: WorkloadSpec, gpus: GpuScheduling, settings: ClusterSettings
) -> dict[str, Any]:
    asked: dict[str, str] = {}
    if spec.cpus:
        asked["cpu"] = str(len(spec.cpus))
    if spec.memory_limit_bytes is not None:
        asked["memory"] = format_bytes(spec.memory_limit_bytes)
    defaults = {k: v for k, v in settings.default_requests.items() if k not in asked}
    out: dict[str, Any] = {"requests": {**defaults, **asked}}
    # Quantities as strings: the official client's models take nothing else.
    limits: dict[str, Any] = {**asked, **gpus.limits}
    if limits:
        out["limits"] = limits
    return out


def _gpu_scheduling(spec: WorkloadSpec, settings: ClusterSettings) -> GpuScheduling:
    choice = gpu_request(spec.gpus, shared=any(k in spec.env for k in _SHARE_ENV))
    return gpu_scheduling(choice, settings.gpu_products, where="gpus")


def gpu_request(devices: tuple[GpuDevice, ...], *, shared: bool) -> GpuChoice | None:
    """The devices our admission granted as a request to the cluster: how many of which
    vendor, of their model when they all share one (the node label value it came from)."""
    if not devices:
        return None
    vendors = {d.vendor for d in devices}
    if len(vendors) > 1:
        raise ValueError(f"gpus: one workload cannot mix vendors ({sorted(vendors)})")
    models = {d.model for d in devices if d.model}
    model = models.pop() if len(models) == 1 else None
    if shared:
        # Any share marks the request shared; the spec's own env carries the real fraction.
        return GpuChoice(devices[0].vendor, 1, model, share_millis=1)
    return GpuChoice(devices[0].vendor, len(devices), model)
