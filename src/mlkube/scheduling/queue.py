"""Admission of waiting work on one node, in arrival order (Kueue's BestEffortFIFO).

Entries are tried oldest first; one that does not fit now does not block younger ones that do,
so a big step cannot stall the queue, and it keeps its place for when capacity frees up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.node_fit import (
    Fit,
    Grant,
    Never,
    NodeCapacity,
    NodeUsage,
    Wait,
    place,
)


@dataclass(frozen=True)
class QueuedWork:
    key: str
    order: tuple[str, ...]  # sort key: arrival time, then position
    request: ResourceRequest


@dataclass(frozen=True)
class Admission:
    admitted: dict[str, Grant]
    waiting: dict[str, str]  # key -> reason
    never: dict[str, str]  # key -> reason


def admit(queue: Iterable[QueuedWork], node: NodeCapacity, running: Sequence[Grant]) -> Admission:
    """Admit what fits now, oldest first; say why the rest waits or can never run."""
    usage = NodeUsage.of(running)
    admitted: dict[str, Grant] = {}
    waiting: dict[str, str] = {}
    never: dict[str, str] = {}
    for work in sorted(queue, key=lambda w: w.order):
        decision = place(work.request, node, usage)
        if isinstance(decision, Fit):
            usage.add(decision.grant)
            admitted[work.key] = decision.grant
        elif isinstance(decision, Wait):
            waiting[work.key] = decision.reason
        elif isinstance(decision, Never):
            never[work.key] = decision.reason
    return Admission(admitted=admitted, waiting=waiting, never=never)
