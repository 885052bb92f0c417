"""Node groups a cluster can grow: what `mlkube operator --node-groups FILE` reads.

    - name: a100-pool
      nodeSelector: {karpenter.sh/nodepool: a100}      # labels the group's nodes carry
      template: {cpu: 32, memory: 256Gi, nvidia.com/gpu: 4, gpuModel: NVIDIA-A100-SXM4-80GB}
      max: 6

On a cluster whose nodes are added on demand (the cluster autoscaler, Karpenter, GPU groups
that scale from zero), the operator must admit work the Ready nodes cannot hold yet: only a
Pending pod makes the autoscaler add a node. With node groups, the capacity the operator
admits against is the Ready nodes outside every group plus each group at its `max`, each node
of the template's shape (the group's current nodes are counted as template nodes, so nothing
is counted twice). The same shape as the sim's `nodeGroups` (`mlkube sim`), with the
selector that tells which Nodes belong to the group.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from mlkube.api.meta import Model
from mlkube.api.resources import Quantity

__all__ = ["NodeGroupSpec", "NodeGroupsError", "NodeShapeSpec", "parse_node_groups"]


class NodeGroupsError(ValueError):
    """A node-groups file that cannot be used; the message names the entry and field."""


class NodeShapeSpec(Model):
    """What one node of a group can allocate; GPUs are whole devices of `gpuModel` (the value
    of the vendor's product label on such nodes)."""

    cpu: Quantity
    memory: Quantity
    nvidia_gpu: int = Field(default=0, alias="nvidia.com/gpu", ge=0)
    amd_gpu: int = Field(default=0, alias="amd.com/gpu", ge=0)
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)

    @model_validator(mode="after")
    def _one_vendor_with_a_model(self) -> NodeShapeSpec:
        if self.nvidia_gpu and self.amd_gpu:
            raise ValueError("a template has GPUs of one vendor: nvidia.com/gpu or amd.com/gpu")
        if (self.nvidia_gpu or self.amd_gpu) and not self.gpu_model:
            raise ValueError("a template with GPUs needs their gpuModel")
        return self


class NodeGroupSpec(Model):
    name: str = Field(min_length=1)
    node_selector: dict[str, str] = Field(alias="nodeSelector", min_length=1)
    template: NodeShapeSpec
    max: int = Field(ge=0)


def parse_node_groups(text: str, *, source: str = "node groups") -> tuple[NodeGroupSpec, ...]:
    """The groups a YAML list describes; `NodeGroupsError` naming what is wrong (a bad
    quantity, a missing selector, a name used twice)."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise NodeGroupsError(f"{source}: not YAML: {err}") from None
    if not isinstance(raw, list):
        raise NodeGroupsError(f"{source}: must be a list of node groups")
    groups = []
    for i, entry in enumerate(raw):
        try:
            groups.append(NodeGroupSpec.model_validate(entry))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise NodeGroupsError(f"{source}[{i}].{where}: {first['msg']}") from None
    names = [g.name for g in groups]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise NodeGroupsError(f"{source}: node group name {twice[0]!r} is used twice")
    return tuple(groups)
