"""Admission of waiting work on one node, in arrival order (Kueue's BestEffortFIFO).

Entries are tried oldest first; one that does not fit now does not block younger ones that do,
so a big step cannot stall the queue, and it keeps its place for when capacity frees up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.gang import GangFit, place_gang
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
    gang: str | None = None  # works sharing a gang id are admitted all together or not at all


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
    ordered = sorted(queue, key=lambda w: w.order)
    gangs = _gangs(ordered)
    for work in ordered:
        if work.gang is not None:
            members = gangs.pop(work.gang, None)
            if members is not None:  # the gang's first member in line places all of them
                _admit_gang(members, node, usage, admitted, waiting, never)
            continue
        decision = place(work.request, node, usage)
        if isinstance(decision, Fit):
            usage.add(decision.grant)
            admitted[work.key] = decision.grant
        elif isinstance(decision, Wait):
            waiting[work.key] = decision.reason
        elif isinstance(decision, Never):
            never[work.key] = decision.reason
    return Admission(admitted=admitted, waiting=waiting, never=never)


def _gangs(ordered: Sequence[QueuedWork]) -> dict[str, list[QueuedWork]]:
    gangs: dict[str, list[QueuedWork]] = {}
    for work in ordered:
        if work.gang is not None:
            gangs.setdefault(work.gang, []).append(work)
    return gangs


def _admit_gang(
    members: Sequence[QueuedWork],
    node: NodeCapacity,
    usage: NodeUsage,
    admitted: dict[str, Grant],
    waiting: dict[str, str],
    never: dict[str, str],
) -> None:
    """All members get a grant, or every member gets the same reason to wait (or never run)."""
    decision = place_gang([m.request for m in members], node, usage)
    if isinstance(decision, GangFit):
        for member, grant in zip(members, decision.grants, strict=True):
            usage.add(grant)
            admitted[member.key] = grant
        return
    reasons = waiting if isinstance(decision, Wait) else never
    reasons.update((m.key, decision.reason) for m in members)
