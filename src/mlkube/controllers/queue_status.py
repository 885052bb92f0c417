"""Cluster mode's stand-in for the `NodeController`: ClusterQueue statuses only.

On a cluster the kubelets own the `Node` objects, so the operator must not write one of its
own; the ClusterQueues' usage (what `mlkube get cq` shows) is still ours to keep. Same
`stale` / `reconcile` shape as `NodeController`, so the manager drives either."""

from __future__ import annotations

from collections.abc import Callable

from mlkube.api.clock import Clock
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.controllers.queues import write_queue_statuses
from mlkube.store.base import ResourceStore


class QueueStatusWriter:
    def __init__(
        self,
        store: ResourceStore,
        queue: NodeQueue,
        *,
        clock: Clock,
        queues: Callable[[], QueueConfig],
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.queues = queues
        self._written_version = -1

    def stale(self) -> bool:
        """Whether allocations changed since the statuses were last written."""
        return self.queue.version != self._written_version

    def reconcile(self, _name: str) -> float | None:
        """Write each ClusterQueue's status where it changed (a no-op without queues)."""
        version = self.queue.version
        config = self.queues()
        if config.active:
            write_queue_statuses(self.store, self.queue, config, now=self.clock.now().timestamp())
        self._written_version = version
        return None
