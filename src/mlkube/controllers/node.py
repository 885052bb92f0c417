"""Keeps the local `Node` object's status, and the ClusterQueues' usage, in line with what the
node has granted. Both are written only when the allocations changed."""

from __future__ import annotations

from collections.abc import Callable

from mlkube.api.clock import Clock
from mlkube.api.errors import NotFound
from mlkube.api.kinds import NODE
from mlkube.api.meta import Condition
from mlkube.api.node import Node, NodeGpu, NodeStatus
from mlkube.api.quantity import format_bytes, format_millis
from mlkube.api.resources import WHOLE_GPU, format_gpus
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.controllers.queues import write_queue_statuses
from mlkube.runtime.base import GpuDevice
from mlkube.scheduling.node_fit import NodeUsage
from mlkube.store.base import ResourceStore


def node_status(queue: NodeQueue, gpus: dict[int, GpuDevice]) -> NodeStatus:
    """Capacity, allocated resources and GPU assignment, from the controller's node view."""
    node = queue.node
    usage = NodeUsage.of([*queue.running.values(), *queue.reserved.values()])
    capacity = {"cpu": str(len(node.cpus)), "memory": format_bytes(node.memory_bytes)}
    allocated = {
        "cpu": format_millis(sum(usage.cpu_millis.values())),
        "memory": format_bytes(usage.memory_bytes),
    }
    for vendor in sorted({g.vendor for g in node.gpus}):
        resource = f"{vendor}.com/gpu"
        capacity[resource] = str(sum(1 for g in node.gpus if g.vendor == vendor))
        # Shares of a device count as what they are (two quarters: `500m`), not as whole GPUs.
        held = sum(m for i, m in usage.gpus.items() if gpus[i].vendor == vendor)
        allocated[resource] = format_millis(held)
    return NodeStatus(
        capacity=capacity,
        allocatable=dict(capacity),
        allocated=allocated,
        gpus=[
            NodeGpu(
                index=g.index,
                vendor=g.vendor,
                model=g.model,
                memory=format_bytes(g.memory_bytes),
                allocated=g.index in usage.gpus,
                allocated_share=_share(usage.gpus.get(g.index, 0)),
            )
            for g in gpus.values()
        ],
        running=len(queue.running),
        waiting=len(queue.waiting),
    )


def _share(millis: int) -> str | None:
    """A partly held device's share (`0.25`); None when it is free or held whole."""
    return format_gpus(millis) if 0 < millis < WHOLE_GPU else None


class NodeController:
    def __init__(
        self,
        store: ResourceStore,
        queue: NodeQueue,
        gpus: dict[int, GpuDevice],
        *,
        clock: Clock,
        queues: Callable[[], QueueConfig],
    ) -> None:
        self.store = store
        self.queues = queues
        self.queue = queue
        self.gpus = gpus
        self.clock = clock
        self._written_version = -1

    def stale(self) -> bool:
        """Whether allocations changed since the Node was last written."""
        return self.queue.version != self._written_version

    def reconcile(self, name: str) -> float | None:
        """Create the Node on first sight, then write its status when it changed."""
        version = self.queue.version
        status = node_status(self.queue, self.gpus)
        try:
            obj = self.store.get(NODE.resource, "", name)
        except NotFound:
            obj = self.store.create(NODE.resource, Node(metadata={"name": name}).to_dict())
        old = NodeStatus.model_validate(obj.get("status") or {})
        ready = next((c for c in old.conditions if c.type == "Ready"), None)
        status.conditions = [
            ready
            or Condition(
                type="Ready",
                status="True",
                reason="LocalRuntimeReady",
                message="the local runtime is running steps",
                last_transition_time=self.clock.now(),
            )
        ]
        if status != old:
            self.store.update_status(NODE.resource, dict(obj, status=status.to_dict()))
        config = self.queues()
        if config.active:
            now = self.clock.now().timestamp()
            write_queue_statuses(self.store, self.queue, config, now=now)
        self._written_version = version
        return None
