"""Cluster mode: the controllers' node capacity follows the cluster's Nodes.

The PipelineRun controller sees the cluster as one node (`runtime.node()`: the Ready,
schedulable Nodes summed). Nodes come and go (the cluster autoscaler, a drain, a failure), so
the manager asks again every `interval` seconds and, sooner, when a Node event changes what
that Node adds to the sum (its schedulability, allocatable resources or GPU labels): a Node's
frequent status heartbeats change nothing we count and cost no list of the Nodes.

On one machine (the embedded platform) the node never changes and nothing here runs.
"""

from __future__ import annotations

import logging

from mlkube.controllers.pipelinerun.controller import PipelineRunController
from mlkube.runtime.base import NodeInfo
from mlkube.runtime.kubernetes.cluster_node import cluster_node
from mlkube.store.base import WatchEvent

__all__ = ["CAPACITY_REFRESH_SECONDS", "CapacityRefresher"]

log = logging.getLogger("mlkube.controllers")

CAPACITY_REFRESH_SECONDS = 30.0


class CapacityRefresher:
    """Refreshes `runs`' node capacity (see the module docstring). Only the manager's worker
    thread calls `refresh`; `node_changed` is called from the Node watch's thread."""

    def __init__(self, runs: PipelineRunController, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"capacity_refresh_seconds: must be above 0, not {interval}")
        self.runs = runs
        self.interval = interval
        self._counted: dict[str, NodeInfo] = {}  # what each Node last added to the sum

    def node_changed(self, event: WatchEvent) -> bool:
        """Whether a Node event changes what the Node adds to the cluster's capacity."""
        name = str((event.object.get("metadata") or {}).get("name"))
        counted = None if event.type == "DELETED" else cluster_node([event.object], name=name)
        if counted == self._counted.get(name):
            return False
        if counted is None:
            self._counted.pop(name, None)
        else:
            self._counted[name] = counted
        return True

    def refresh(self, _: str = "") -> None:
        """Read the capacity again now (a handler of the manager's queue)."""
        if self.runs.refresh_node():
            node = self.runs.node
            log.info(
                "cluster capacity now %d cores, %d bytes of memory, %d GPUs",
                len(node.cpus),
                node.memory_bytes,
                len(node.gpus),
            )

    def refresh_periodically(self, key: str) -> float:
        """`refresh`, then again after `interval` (the handler of the periodic key)."""
        self.refresh(key)
        return self.interval
