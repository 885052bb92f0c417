"""Held grants carried over to a node whose capacity changed (a cluster gained or lost nodes).

Pure: grants and capacities in, grants out. In cluster mode the "node" is the whole cluster
(`mlkube.runtime.kubernetes.cluster_node`), its cores and GPUs numbered across the Nodes, so
when a Node comes or goes the numbers shift: a core held may no longer exist, and a GPU index
may now name a device of another model. Work already holding resources keeps running, so
what it holds is renumbered onto the new capacity instead of being dropped from the books:

- cores: a held core that still exists stays; millicores on cores that are gone move to the
  cores with the most room (never onto a core another grant keeps while one has room), and
  when no room is left they pile onto the first core (over-committed), so nothing new is
  admitted on top of them;
- GPUs: a held device keeps its index when the new node has a device of the same vendor and
  model there; otherwise it moves to the least-held device of that vendor and model (even a
  full one, over-committing it), and keeps its old index only when no such device is left.

Memory is one number and needs no renumbering. After this, `node_fit.place` sees every
held grant within the new numbering and admits only what the new capacity has free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from mlkube.scheduling.node_fit import CORE_MILLIS, Grant, NodeCapacity

__all__ = ["refit_grants"]

Kinds = Mapping[int, tuple[str, str]]  # GPU index -> (vendor, model)


def refit_grants(
    grants: Iterable[tuple[str, Grant]], old: NodeCapacity, new: NodeCapacity
) -> dict[str, Grant]:
    """Each keyed grant (made on `old`) renumbered onto `new` (see the module docstring); keys
    are kept. What can stay is counted first, so a moved core or GPU never lands on one that
    another grant keeps while a free one is left."""
    old_kinds = {slot.index: (slot.vendor, slot.model) for slot in old.gpus}
    new_kinds = {slot.index: (slot.vendor, slot.model) for slot in new.gpus}
    held = dict(grants)
    cores: dict[int, int] = {}  # millicores held per core of `new`, as the grants settle
    gpus: dict[int, int] = {}  # thousandths held per device of `new`
    for grant in held.values():
        for core, millis in grant.cpu_millis.items():
            if core in new.cpus:
                cores[core] = cores.get(core, 0) + millis
        for device in grant.gpus:
            if _stays(device, old_kinds, new_kinds):
                gpus[device] = gpus.get(device, 0) + grant.gpu_millis
    return {
        key: replace(
            grant,
            cpu_millis=_fold_cores(grant.cpu_millis, new.cpus, cores),
            gpus=tuple(
                _move_gpu(d, grant.gpu_millis, old_kinds, new_kinds, gpus) for d in grant.gpus
            ),
        )
        for key, grant in held.items()
    }


def _stays(device: int, old_kinds: Kinds, new_kinds: Kinds) -> bool:
    """The device index names a device of the same kind (or one we know nothing about)."""
    kind = old_kinds.get(device)
    return kind is None or new_kinds.get(device) == kind


def _fold_cores(
    held: Mapping[int, int], cpus: tuple[int, ...], used: dict[int, int]
) -> dict[int, int]:
    """`held` with the millicores of lost cores moved onto the roomiest cores (`used` is
    updated); what finds no room piles onto the first core."""
    existing = set(cpus)
    folded = {core: millis for core, millis in held.items() if core in existing}
    overflow = sum(millis for core, millis in held.items() if core not in existing)
    if not cpus:
        return dict(held)  # no core left at all: keep the books as they were
    if overflow == 0:
        return folded
    for core in sorted(cpus, key=lambda c: (used.get(c, 0), c)):
        taken = min(max(CORE_MILLIS - used.get(core, 0), 0), overflow)
        if taken:
            folded[core] = folded.get(core, 0) + taken
            used[core] = used.get(core, 0) + taken
            overflow -= taken
    if overflow:
        folded[cpus[0]] = folded.get(cpus[0], 0) + overflow
        used[cpus[0]] = used.get(cpus[0], 0) + overflow
    return folded


def _move_gpu(
    device: int, millis: int, old_kinds: Kinds, new_kinds: Kinds, used: dict[int, int]
) -> int:
    """The device's index on the new node: the same, or the least-held device of its kind
    (`used` is updated), or the same when no device of its kind is left."""
    if _stays(device, old_kinds, new_kinds):
        return device
    matching = [index for index, kind in new_kinds.items() if kind == old_kinds[device]]
    if not matching:
        return device
    target = min(matching, key=lambda index: (used.get(index, 0), index))
    used[target] = used.get(target, 0) + millis
    return target
