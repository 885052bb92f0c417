"""`Node` (core `v1`): a machine that runs steps, with what it has and what is allocated.

The embedded platform keeps one Node, named after the host, up to date; on a cluster these are
Kubernetes' own Nodes. `status.allocated` is ours: Kubernetes derives it from pods in
`kubectl describe node`; we store it so `mlkube get nodes` shows it at a glance.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlkube.api.meta import Condition, Model, ObjectMeta


class NodeGpu(Model):
    index: int
    vendor: Literal["nvidia", "amd"]
    model: str
    memory: str = ""
    allocated: bool = False
    # Set while steps share the device: the part of it they hold, e.g. "0.5".
    allocated_share: str | None = Field(default=None, alias="allocatedShare")


class NodeSpec(Model):
    unschedulable: bool = False


class NodeStatus(Model):
    capacity: dict[str, str] = Field(default_factory=dict)
    allocatable: dict[str, str] = Field(default_factory=dict)
    allocated: dict[str, str] = Field(default_factory=dict)
    gpus: list[NodeGpu] = Field(default_factory=list)
    running: int = 0
    waiting: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class Node(Model):
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)
