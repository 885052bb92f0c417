"""Leader election's decision (`mlkube.server.lease.decide`), as a table of cases, and the Lease
object it is written as, validated against the upstream schemas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import kubernetes_validate
import pytest

from mlkube.server.lease import (
    Action,
    LeaseRecord,
    decide,
    lease_object,
    record_of,
    released,
)

ME, OTHER = "op-a_1111", "op-b_2222"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=20)


def held_by(holder: str | None, *, renewed: datetime = T0, transitions: int = 3) -> LeaseRecord:
    return LeaseRecord(holder, 15, T0 - timedelta(minutes=5), renewed, transitions)


@dataclass(frozen=True)
class Case:
    name: str
    observed: LeaseRecord | None
    unchanged_for: float
    leading: bool
    action: Action
    written: LeaseRecord | None


CASES = [
    Case("no lease yet", None, 0.0, False, Action.ACQUIRE, LeaseRecord(ME, 15, NOW, NOW, 0)),
    Case(
        "released by its last holder",
        held_by(None),
        0.0,
        False,
        Action.ACQUIRE,
        LeaseRecord(ME, 15, NOW, NOW, 4),
    ),
    Case(
        "another holder's lease left unrenewed for its duration",
        held_by(OTHER),
        15.0,
        False,
        Action.ACQUIRE,
        LeaseRecord(ME, 15, NOW, NOW, 4),
    ),
    Case("another holder's live lease", held_by(OTHER), 14.9, False, Action.STAND_BY, None),
    Case(
        # Only this replica's own (monotonic) observation counts: a renewTime long past on our
        # wall clock says nothing, as the holder's clock may differ.
        "another holder's lease with an old renewTime, just seen",
        held_by(OTHER, renewed=T0 - timedelta(hours=1)),
        0.0,
        False,
        Action.STAND_BY,
        None,
    ),
    Case(
        "my own lease renewed",
        held_by(ME),
        2.0,
        True,
        Action.RENEW,
        LeaseRecord(ME, 15, T0 - timedelta(minutes=5), NOW, 3),
    ),
    Case(
        # The wall clock stepped back below the renewTime written last: renew all the same.
        "my own lease after a clock step back",
        held_by(ME, renewed=NOW + timedelta(minutes=10)),
        2.0,
        True,
        Action.RENEW,
        LeaseRecord(ME, 15, T0 - timedelta(minutes=5), NOW, 3),
    ),
    Case(
        # Another holder's renewTime is in our future (its clock is ahead, or ours stepped
        # back): still only live or expired by what we observed.
        "another holder's lease renewed in our future",
        held_by(OTHER, renewed=NOW + timedelta(minutes=10)),
        3.0,
        False,
        Action.STAND_BY,
        None,
    ),
    Case("a leader finds another holder", held_by(OTHER), 0.0, True, Action.LOST, None),
    Case("a leader finds the lease released", held_by(None), 0.0, True, Action.LOST, None),
    Case(
        "a candidate finds its own identity (a lease it wrote before a failed read)",
        held_by(ME),
        0.0,
        False,
        Action.ACQUIRE,
        LeaseRecord(ME, 15, T0 - timedelta(minutes=5), NOW, 3),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decide(case: Case) -> None:
    decision = decide(
        case.observed,
        identity=ME,
        now=NOW,
        unchanged_for=case.unchanged_for,
        lease_duration_seconds=15,
        leading=case.leading,
    )
    assert (decision.action, decision.record) == (case.action, case.written)
    assert decision.reason


def test_the_holders_own_duration_judges_expiry() -> None:
    longer = LeaseRecord(OTHER, 60, T0, T0, 0)

    def after(seconds: float) -> Action:
        return decide(
            longer,
            identity=ME,
            now=NOW,
            unchanged_for=seconds,
            lease_duration_seconds=15,
            leading=False,
        ).action

    assert (after(30.0), after(60.0)) == (Action.STAND_BY, Action.ACQUIRE)


def test_released_clears_the_holder_and_keeps_the_count() -> None:
    assert released(held_by(ME, transitions=7), NOW) == LeaseRecord(None, 1, NOW, NOW, 7)


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
@pytest.mark.parametrize(
    "record",
    [LeaseRecord(ME, 15, NOW, NOW + timedelta(microseconds=5), 2), released(held_by(ME), NOW)],
    ids=["held", "released"],
)
def test_the_lease_object_is_valid_and_reads_back(record: LeaseRecord, version: str) -> None:
    obj = lease_object(record, name="mlkube-operator", namespace="mlkube-system")
    kubernetes_validate.validate(obj, version, strict=True)
    assert record_of(obj) == record


def test_times_are_written_as_micro_time() -> None:
    obj = lease_object(LeaseRecord(ME, 15, T0, T0, 0), name="l", namespace="n")
    assert obj["spec"]["renewTime"] == "2026-03-01T12:00:00.000000Z"


def test_an_update_carries_the_resource_version_it_read() -> None:
    obj = lease_object(held_by(ME), name="l", namespace="n", resource_version="42")
    assert obj["metadata"] == {"name": "l", "namespace": "n", "resourceVersion": "42"}
