"""Leader election's decision, as client-go's `leaderelection` makes it: pure, no I/O, no clock.

    decision = decide(observed, identity="op-1_3f2a", now=now, unchanged_for=4.0, leading=False)
    if decision.action is Action.ACQUIRE: write decision.record (create or replace the Lease)

The Lease (`coordination.k8s.io/v1`) is read and written by `mlkube.server.leader`; this module
only says what to do with what was read. Rules:

- a missing Lease, or one with no holder (released), is free: acquire it;
- my own Lease is renewed (its `acquireTime` and `leaseTransitions` kept);
- another holder's Lease is live until it has stayed unchanged for its `leaseDurationSeconds`
  *as measured by this replica* (`unchanged_for`, on the caller's monotonic clock). As in
  client-go, the other replica's `renewTime` is never compared with our clock, so a clock
  step or skew between machines cannot make a live lease look expired;
- a replica that led and finds another holder has lost: it must stop at once.

`now` is only written (`acquireTime`, `renewTime`), never compared.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Action",
    "Decision",
    "LeaseRecord",
    "decide",
    "lease_object",
    "record_of",
    "released",
]


class Action(enum.Enum):
    ACQUIRE = "acquire"  # the lease is free or expired: write it with me as holder
    RENEW = "renew"  # the lease is mine: write a fresh renewTime
    STAND_BY = "stand by"  # another holder's lease is live: write nothing, try again later
    LOST = "lost"  # I led, and another holder has the lease now: stop leading


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease's spec that leader election reads and writes."""

    holder: str | None
    duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Decision:
    """What to do; `record` is the spec to write for ACQUIRE and RENEW (None otherwise)."""

    action: Action
    record: LeaseRecord | None
    reason: str


def decide(
    observed: LeaseRecord | None,
    *,
    identity: str,
    now: datetime,
    unchanged_for: float,
    lease_duration_seconds: int,
    leading: bool,
) -> Decision:
    """Acquire, renew, stand by or lost, for the replica `identity` (see the module docstring).

    `observed` is the Lease as just read (None: there is none); `unchanged_for` is how long this
    replica has seen it unchanged; `lease_duration_seconds` is the duration this replica writes.
    """
    if observed is None:
        record = LeaseRecord(identity, lease_duration_seconds, now, now, 0)
        return Decision(Action.ACQUIRE, record, "no lease yet")
    if observed.holder == identity:
        record = replace(
            observed,
            duration_seconds=lease_duration_seconds,
            acquire_time=observed.acquire_time or now,
            renew_time=now,
        )
        return Decision(Action.RENEW if leading else Action.ACQUIRE, record, "held by me")
    if leading:
        return Decision(Action.LOST, None, f"held by {observed.holder or 'nobody'} now")
    if observed.holder:
        duration = observed.duration_seconds or lease_duration_seconds
        if unchanged_for < duration:
            return Decision(Action.STAND_BY, None, f"held by {observed.holder}")
        reason = f"expired: {observed.holder} left it unrenewed for {unchanged_for:.1f}s"
    else:
        reason = "released"
    record = LeaseRecord(identity, lease_duration_seconds, now, now, observed.transitions + 1)
    return Decision(Action.ACQUIRE, record, reason)


def released(record: LeaseRecord, now: datetime) -> LeaseRecord:
    """The record a leader writes when it stops cleanly: no holder, so a standby acquires the
    lease on its next try instead of waiting for it to expire (client-go's `ReleaseOnCancel`)."""
    return LeaseRecord(None, 1, now, now, record.transitions)


def lease_object(
    record: LeaseRecord, *, name: str, namespace: str, resource_version: str | None = None
) -> dict[str, Any]:
    """The `coordination.k8s.io/v1` Lease holding `record` (its resourceVersion set for an
    update, so a concurrent writer makes it fail with a conflict)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    spec: dict[str, Any] = {
        "leaseDurationSeconds": record.duration_seconds,
        "leaseTransitions": record.transitions,
    }
    if record.holder:
        spec["holderIdentity"] = record.holder
    if record.acquire_time is not None:
        spec["acquireTime"] = _micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = _micro_time(record.renew_time)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def record_of(lease: dict[str, Any]) -> LeaseRecord:
    """The record in a Lease as the API server sent it (absent fields read as empty)."""
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def _micro_time(moment: datetime) -> str:
    """Kubernetes' MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    """A MicroTime as sent; an unreadable one reads as absent (it is only ever written back)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
