"""When will a waiting request start? A replay of the expected ends of what holds the room.

Pure: the caller describes every limit the request must fit as named dimensions of one vector
(`node/cpu`, `quota/default/nvidia.com/gpu`, ...) with their `capacity`, what holds each now
(`running`, with an expected end when one is known) and what waits ahead of the request in line
(`ahead`, with an expected duration when known). The replay frees what ends, in time order,
starts what is ahead as soon as it fits (best-effort FIFO: something ahead that does not fit
does not hold the request back), and answers the first moment the request fits, naming what
ending made the room. When the room can only come from something whose end nobody can tell, the
answer is "unknown", saying which. It is an estimate: arrivals of higher priority, preemption
and early exits are not foreseen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Holder:
    """Something holding room now; `ends_at` None: its end cannot be estimated."""

    name: str
    amounts: Mapping[str, int]
    ends_at: float | None


@dataclass(frozen=True)
class Queued:
    """Something waiting ahead; `duration` None: how long it will hold is unknown."""

    name: str
    amounts: Mapping[str, int]
    duration: float | None


@dataclass(frozen=True)
class StartEstimate:
    """`at` (epoch seconds) and the holder whose end makes room (`after`), or, with `at` None,
    why no time can be given (`reason`)."""

    at: float | None
    after: str | None = None
    reason: str = ""


@dataclass
class _Held:
    name: str
    amounts: Mapping[str, int]
    ends_at: float | None
    used: dict[str, int] = field(default_factory=dict)


def estimate_start(
    need: Mapping[str, int],
    *,
    capacity: Mapping[str, int],
    running: Sequence[Holder],
    ahead: Sequence[Queued] = (),
    now: float,
) -> StartEstimate:
    """The earliest time `need` fits under `capacity` (see the module docstring)."""
    too_big = [d for d, amount in need.items() if amount > capacity.get(d, 0)]
    if too_big:
        return StartEstimate(None, reason=f"needs more {too_big[0]} than there is in all")
    held = [_Held(h.name, h.amounts, h.ends_at) for h in running]
    used = _total(held)
    waiting = list(ahead)
    t, freed_by = now, None
    while True:
        waiting = _start_what_fits(waiting, held, used, capacity, t)
        if _fits(need, used, capacity):
            return StartEstimate(t, after=freed_by if t > now else None)
        ending = [h for h in held if h.ends_at is not None]
        if not ending:
            return _unknown(held)
        first = min(h.ends_at for h in ending if h.ends_at is not None)
        t = max(t, first)
        for h in [h for h in ending if h.ends_at == first]:
            held.remove(h)
            for d, amount in h.amounts.items():
                used[d] -= amount
            freed_by = h.name


def _start_what_fits(
    waiting: list[Queued],
    held: list[_Held],
    used: dict[str, int],
    capacity: Mapping[str, int],
    t: float,
) -> list[Queued]:
    """Start (in order) what ahead fits at `t`; returns what still waits."""
    still = []
    for item in waiting:
        if _fits(item.amounts, used, capacity):
            end = t + item.duration if item.duration is not None else None
            held.append(_Held(item.name, item.amounts, end))
            for d, amount in item.amounts.items():
                used[d] = used.get(d, 0) + amount
        else:
            still.append(item)
    return still


def _fits(amounts: Mapping[str, int], used: Mapping[str, int], capacity: Mapping[str, int]) -> bool:
    return all(used.get(d, 0) + a <= capacity.get(d, 0) for d, a in amounts.items() if a)


def _total(held: Sequence[_Held]) -> dict[str, int]:
    used: dict[str, int] = {}
    for h in held:
        for d, amount in h.amounts.items():
            used[d] = used.get(d, 0) + amount
    return used


def _unknown(held: Sequence[_Held]) -> StartEstimate:
    names = sorted(h.name for h in held if h.ends_at is None)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return StartEstimate(
        None,
        reason=f"waits for {shown}, whose end cannot be estimated "
        "(no earlier successful run of the step and no timeout)",
    )
