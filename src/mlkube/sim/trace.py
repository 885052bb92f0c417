"""YAML simulation traces: nodes, node groups, the platform's queue manifests, and workloads.

A trace is one YAML file. Its first document is the trace; any further `---` documents are
manifests, as is every entry of its `manifests:` list (an inline manifest, or a path to a YAML
file of manifests, relative to the trace). Manifests are the platform's own ClusterQueue,
ResourceFlavor and PriorityClass objects, checked as the API checks them and translated into
quotas by the same code the PipelineRun controller uses (`quota_gate.load_queues`, reading them
from an in-memory SQLite store), so the queue config of a capacity plan is the real one.

```yaml
nodes:                      # static nodes, never scaled
  - {name: cpu, count: 4, cpu: 32, memory: 128Gi}
  - {name: h100, cpu: 64, memory: 512Gi, nvidia.com/gpu: 8, gpuModel: H100}
nodeGroups:                 # nodes the autoscaler adds and removes
  - name: a100-pool
    template: {cpu: 8, memory: 64Gi, nvidia.com/gpu: 1, gpuModel: A100}
    min: 0
    max: 16
    initial: 0              # default: min
autoscaler: {provisioningSeconds: 60, scaleDownUnneededSeconds: 600, expander: least-waste}
preemptionGraceSeconds: 30
tickSeconds: 1              # decisions once per virtual second in which something happened
placement: best-fit         # or fgd
manifests: [queues.yaml]    # and/or inline manifests, and/or `---` documents below
workloads:
  - name: train
    namespace: team-a       # its ClusterQueue is the one naming this namespace, if any
    priorityClassName: high # default: the globalDefault PriorityClass's value, else 0
    arrival: 0              # virtual seconds
    duration: 3600          # seconds from when all its pods are placed
    repeat: 1               # several copies, `interval` seconds apart, named train-0, ...
    podSets:
      - name: workers
        count: 4            # a gang: all four pods placed, or none
        requests: {cpu: 8, memory: 64Gi, nvidia.com/gpu: 1}
        gpuModel: H100
        fallbacks:          # "H100 x1, else A100 x2"
          - {requests: {cpu: 8, memory: 64Gi, nvidia.com/gpu: 2}, gpuModel: A100}
```

`nvidia.com/gpu` in requests may be a fraction below 1 (a share of one device, e.g. 0.25);
above 1 it must be whole. `gpuModel` matches node models as the platform does (case-insensitive
substring). A workload whose namespace has no ClusterQueue is not limited by quota and only
its first choice is tried. Only NVIDIA GPUs are modelled.

Bad input raises `TraceError` naming the field: unknown fields, bad quantities, an unknown
priority class, a GPU model no node has, a request bigger than every node and template, a
pod set no flavor of its queue covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlkube.api.errors import ApiError
from mlkube.api.kinds import CLUSTER_QUEUE, PRIORITY_CLASS, RESOURCE_FLAVOR, by_api_version_kind
from mlkube.api.kinds import validate as validate_manifest
from mlkube.api.quantity import cpu_millis, memory_bytes
from mlkube.api.queueing import PriorityClass
from mlkube.api.validation import causes_from_validation_error
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig, load_queues
from mlkube.scheduling.cluster import ClusterNode
from mlkube.scheduling.nodegroups import NodeTemplate
from mlkube.sim.spec import GroupSpec, SimSettings, SimSpec
from mlkube.sim.trace_format import NodeShape, TraceFile
from mlkube.sim.workloads import TraceError, WorkloadBuilder
from mlkube.store.sqlite import SqliteStore

__all__ = ["TraceError", "load_trace", "parse_trace"]

SIM_KINDS = (CLUSTER_QUEUE, RESOURCE_FLAVOR, PRIORITY_CLASS)
MIB = 2**20


def load_trace(path: str | Path, *, autoscale: bool = True) -> SimSpec:
    """Read and check the trace at `path`; `autoscale=False` keeps node groups at `initial`."""
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as err:
        raise TraceError(f"{path}: {err}") from err
    if not documents:
        raise TraceError(f"{path}: empty trace")
    return parse_trace(documents[0], documents[1:], base=path.parent, autoscale=autoscale)


def parse_trace(
    trace: Any,
    extra_manifests: Sequence[Any] = (),
    *,
    base: Path = Path("."),
    autoscale: bool = True,
) -> SimSpec:
    """A `SimSpec` from the trace document and manifests; `TraceError` on bad input."""
    if not isinstance(trace, dict):
        raise TraceError("the trace's first document must be a mapping")
    try:
        parsed = TraceFile.model_validate(trace)
    except ValidationError as err:
        causes = causes_from_validation_error(err)
        raise TraceError("; ".join(f"{c.field}: {c.message}" for c in causes)) from None
    manifests = _manifests(parsed.manifests, extra_manifests, base)
    queues, priorities, default_priority = _queue_config(manifests)
    nodes = _nodes(parsed)
    groups = _groups(parsed)
    builder = WorkloadBuilder(
        queues,
        priorities,
        default_priority,
        shapes=[*nodes, *(g.template.node(g.name) for g in groups)],
    )
    workloads = [wl for i, entry in enumerate(parsed.workloads) for wl in builder.build(entry, i)]
    _unique([wl.key for wl in workloads], "workloads", "workload")
    scaler = parsed.autoscaler
    settings = SimSettings(
        autoscale=autoscale,
        provisioning_s=scaler.provisioning_seconds,
        scale_down_unneeded_s=scaler.scale_down_unneeded_seconds,
        expander=scaler.expander,
        preemption_grace_s=parsed.preemption_grace_seconds,
        tick_s=parsed.tick_seconds,
        placement=parsed.placement,
    )
    return SimSpec(tuple(nodes), tuple(groups), queues, tuple(workloads), settings)


# --- manifests ---------------------------------------------------------------------------------


def _manifests(listed: Sequence[Any], extra: Sequence[Any], base: Path) -> list[dict[str, Any]]:
    found: list[tuple[str, Any]] = []
    for i, entry in enumerate(listed):
        if isinstance(entry, str):
            found += _manifest_file(base / entry, f"manifests[{i}]")
        else:
            found.append((f"manifests[{i}]", entry))
    found += [(f"document {i + 2}", doc) for i, doc in enumerate(extra)]
    out = []
    for where, doc in found:
        if not isinstance(doc, dict):
            raise TraceError(f"{where}: a manifest must be a mapping")
        try:
            kind = by_api_version_kind(str(doc.get("apiVersion")), str(doc.get("kind")))
            if kind not in SIM_KINDS:
                raise TraceError(f"{where}: kind {kind.kind} is not used by the sim")
            validate_manifest(kind, doc)
        except ApiError as err:
            raise TraceError(f"{where}: {err}") from None
        out.append(doc)
    return out


def _manifest_file(path: Path, where: str) -> list[tuple[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as err:
        raise TraceError(f"{where}: {err}") from None
    return [(f"{where} ({path.name}, document {i + 1})", d) for i, d in enumerate(docs)]


def _queue_config(
    manifests: Sequence[dict[str, Any]],
) -> tuple[QueueConfig, dict[str, int], int]:
    """Queues through the quota gate's own loader; priority class values by name."""
    store = SqliteStore(":memory:")
    try:
        for doc in manifests:
            kind = by_api_version_kind(doc["apiVersion"], doc["kind"])
            try:
                store.create(kind.resource, doc)
            except ApiError as err:
                raise TraceError(f"{kind.kind} {doc['metadata'].get('name')}: {err}") from None
        config = load_queues(store)
    finally:
        store.close()
    classes = [PriorityClass.model_validate(d) for d in manifests if d["kind"] == "PriorityClass"]
    values = {c.metadata.name or "": c.value for c in classes}
    default = next((c.value for c in classes if c.global_default), 0)
    return config, values, default


# --- nodes -------------------------------------------------------------------------------------


def _nodes(parsed: TraceFile) -> list[ClusterNode]:
    nodes = []
    for entry in parsed.nodes:
        template = _template(entry)
        names = (
            [entry.name] if entry.count == 1 else [f"{entry.name}-{i}" for i in range(entry.count)]
        )
        nodes += [template.node(name) for name in names]
    _unique([n.name for n in nodes], "nodes", "node")
    return nodes


def _groups(parsed: TraceFile) -> list[GroupSpec]:
    groups = [
        GroupSpec(
            g.name,
            _template(g.template),
            g.min,
            g.max,
            g.min if g.initial is None else g.initial,
        )
        for g in parsed.node_groups
    ]
    _unique([g.name for g in groups], "nodeGroups", "node group")
    return groups


def _template(shape: NodeShape) -> NodeTemplate:
    return NodeTemplate(
        cpu_milli=cpu_millis(shape.cpu),
        memory_mib=memory_bytes(shape.memory) // MIB,  # whole MiB the node really has
        gpu_model=shape.gpu_model or "",
        gpus=shape.nvidia_gpu,
    )


def _unique(names: Sequence[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TraceError(f"{field}: {what} name {name!r} is used twice")
        seen.add(name)
