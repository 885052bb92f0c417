"""Which GPUs of one node a request gets: whole devices, a share of one, or the first choice of
a fallback list that fits.

Pure functions over plain data. Devices are counted in thousandths (`WHOLE_GPU` = 1000), so
shares add up exactly: four 0.25 shares fill a device. Rules, after the kubelet's device
plugins and NVIDIA time-slicing:

- a whole-GPU request takes devices nothing else holds any part of;
- a share takes part of one device with that much still free, packed onto the device left with
  the least free room (already shared devices first), so whole devices stay free for whole
  requests (the fragmentation the issue asks to avoid);
- a share sized by memory (`gpuMemory`) is converted on each candidate device: the memory over
  the device's memory, rounded up to a thousandth;
- the choices of a fallback list are tried in order; the first that fits now is granted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlkube.api.quantity import format_bytes
from mlkube.api.resources import WHOLE_GPU, GpuChoice, format_gpus


@dataclass(frozen=True)
class GpuSlot:
    """One device of the node; `memory_bytes` 0 means unknown (no share by memory fits it)."""

    index: int
    vendor: str
    model: str
    memory_bytes: int = 0


@dataclass(frozen=True)
class GpuPick:
    """What a GPU request is granted: `devices`, `millis` of each, for `choice`."""

    devices: tuple[int, ...]
    millis: int
    choice: GpuChoice


def matching(gpus: Sequence[GpuSlot], choice: GpuChoice) -> list[GpuSlot]:
    """Devices of the choice's vendor and, if it names one, model (case-insensitive
    substring, so `A100` matches `NVIDIA A100-SXM4-80GB`)."""
    wanted = (choice.model or "").lower()
    return [
        g for g in gpus if g.vendor == choice.vendor and (not wanted or wanted in g.model.lower())
    ]


def never_reason(choices: Sequence[GpuChoice], gpus: Sequence[GpuSlot], node: str) -> str | None:
    """Why no choice can ever be granted on the node even when it is idle; None if one can."""
    shorts = [_never(choice, gpus) for choice in choices]
    if not choices or any(short is None for short in shorts):
        return None
    vendors = sorted({c.vendor for c in choices})
    on_node = "; ".join(_on_node(gpus, vendor) for vendor in vendors)
    if len(choices) == 1:
        (choice,) = choices
        model = f" of model {choice.model!r}" if choice.model else ""
        return (
            f"requests {_amount(choice)} {choice.resource}{model} but node {node} has "
            f"{shorts[0]}; {on_node}"
        )
    each = "; ".join(f"{c.describe()}: {s}" for c, s in zip(choices, shorts, strict=True))
    return (
        f"requests any of {', '.join(c.describe() for c in choices)} but node {node} can hold "
        f"none of them ({each}); {on_node}"
    )


def pick(
    choices: Sequence[GpuChoice], gpus: Sequence[GpuSlot], used: Mapping[int, int]
) -> GpuPick | str:
    """The first choice that fits now, with its devices; else why each waits (or never fits
    this node), in order, for a wait reason."""
    reasons = []
    for choice in choices:
        outcome = _pick_one(choice, gpus, used)
        if isinstance(outcome, GpuPick):
            return outcome
        reasons.append(outcome)
    if len(choices) == 1:
        return reasons[0]
    return "; ".join(f"{c.describe()}: {r}" for c, r in zip(choices, reasons, strict=True))


def _pick_one(choice: GpuChoice, gpus: Sequence[GpuSlot], used: Mapping[int, int]) -> GpuPick | str:
    never = _never(choice, gpus)
    if never is not None:
        return f"never on this node ({never})"
    candidates = matching(gpus, choice)
    if not choice.shared:
        free = sorted(g.index for g in candidates if not used.get(g.index, 0))
        if len(free) < choice.count:
            return f"needs {choice.count}, {len(free)} matching free"
        return GpuPick(tuple(free[: choice.count]), WHOLE_GPU, choice)
    return _pick_share(choice, candidates, used)


def _pick_share(
    choice: GpuChoice, candidates: list[GpuSlot], used: Mapping[int, int]
) -> GpuPick | str:
    """Best fit: the device left with the least free room, so shares pack together."""
    options = []
    most_free = 0
    for g in candidates:
        free = WHOLE_GPU - used.get(g.index, 0)
        most_free = max(most_free, free)
        need = choice.share_on(g.memory_bytes)
        if need is not None and need <= free:
            options.append((free - need, g.index, need))
    if not options:
        wanted = (
            f"{format_bytes(choice.memory_bytes)} of one device's memory"
            if choice.memory_bytes
            else f"{format_gpus(choice.share_millis)} of one device"
        )
        return f"needs {wanted}, the most free on a matching device is {format_gpus(most_free)}"
    _, index, share = min(options)
    return GpuPick((index,), share, choice)


def _never(choice: GpuChoice, gpus: Sequence[GpuSlot]) -> str | None:
    """Why `choice` can never be granted on an idle node with `gpus`, or None."""
    candidates = matching(gpus, choice)
    if len(candidates) < choice.count:
        return f"{len(candidates)} matching"
    if choice.memory_bytes and all(choice.share_on(g.memory_bytes) is None for g in candidates):
        largest = max(g.memory_bytes for g in candidates)
        known = f"the largest has {format_bytes(largest)}" if largest else "memory unknown"
        return f"no matching device with {format_bytes(choice.memory_bytes)} of memory ({known})"
    return None


def _amount(choice: GpuChoice) -> str:
    if not choice.shared:
        return str(choice.count)
    if choice.memory_bytes:
        return f"a {format_bytes(choice.memory_bytes)} share of one"
    return format_gpus(choice.share_millis)


def _on_node(gpus: Sequence[GpuSlot], vendor: str) -> str:
    resource = f"{vendor}.com/gpu"
    of_vendor = [g for g in gpus if g.vendor == vendor]
    models = sorted({g.model for g in of_vendor})
    has = f"{len(of_vendor)} ({', '.join(models)})" if models else "none"
    return f"{resource} on the node: {has}"
