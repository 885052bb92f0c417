"""`LeaderElector` ticked by hand on a fake clock, against an in-memory Lease shared by two
replicas (`mlkube.testing.leases`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlkube.server.leader import LeaderElection, LeaderElector, Role
from mlkube.server.lease import LeaseRecord
from mlkube.testing.clock import FakeClock
from mlkube.testing.leases import FakeLease, FakeLeaseClient


class Replica:
    """An elector with a record of its callbacks."""

    def __init__(self, lease: FakeLease, identity: str, clock: FakeClock) -> None:
        self.events: list[str] = []
        self.client: FakeLeaseClient = lease.client()
        self.elector = LeaderElector(
            self.client,
            LeaderElection(identity),
            clock=clock,
            on_started=lambda: self.events.append("started"),
            on_lost=lambda: self.events.append("lost"),
        )

    def tick(self) -> Role:
        return self.elector.tick()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lease() -> FakeLease:
    return FakeLease()


def test_the_first_replica_leads_and_the_second_stands_by(
    lease: FakeLease, clock: FakeClock
) -> None:
    a, b = Replica(lease, "a", clock), Replica(lease, "b", clock)
    assert (a.tick(), b.tick()) == (Role.LEADER, Role.CANDIDATE)
    for _ in range(20):  # a renews every period for a minute: b never takes over
        clock.advance(3)
        assert (a.tick(), b.tick()) == (Role.LEADER, Role.CANDIDATE)
    assert (a.events, b.events) == (["started"], [])
    assert b.elector.holder == "a"
    assert lease.record is not None and lease.record.holder == "a"
    assert lease.record.renew_time == clock.now()
    assert lease.record.acquire_time == lease.writes[0].acquire_time


def test_a_leader_that_cannot_renew_stops_before_a_standby_takes_over(
    lease: FakeLease, clock: FakeClock
) -> None:
    a, b = Replica(lease, "a", clock), Replica(lease, "b", clock)
    a.tick()
    b.tick()
    a.client.reachable = False  # a's API server is gone
    roles = []
    for _ in range(9):  # 2 s apart, as the retry period
        clock.advance(2)
        roles.append((a.tick(), b.tick()))
    # a gives up at its renew deadline (10 s); b waits out the lease duration (15 s) as it
    # observed it, so the two never lead at once.
    assert roles[:4] == [(Role.LEADER, Role.CANDIDATE)] * 4
    assert roles[4:7] == [(Role.LOST, Role.CANDIDATE)] * 3
    assert roles[7:] == [(Role.LOST, Role.LEADER)] * 2
    assert (a.events, b.events) == (["started", "lost"], ["started"])
    assert lease.record == LeaseRecord("b", 15, clock.now() - timedelta(seconds=2), clock.now(), 1)


def test_a_lost_leader_never_leads_again(lease: FakeLease, clock: FakeClock) -> None:
    a, b = Replica(lease, "a", clock), Replica(lease, "b", clock)
    a.tick()
    clock.advance(16)
    b.tick()  # first sight of the lease: b waits a full duration from now
    seize(lease, LeaseRecord("b", 15, clock.now(), clock.now(), 1))
    assert a.tick() is Role.LOST  # another holder: lost at once, whatever the deadline
    seize(lease, LeaseRecord(None, 1))
    clock.advance(2)
    assert a.tick() is Role.LOST
    assert a.events == ["started", "lost"]


def test_release_hands_over_at_once(lease: FakeLease, clock: FakeClock) -> None:
    a, b = Replica(lease, "a", clock), Replica(lease, "b", clock)
    a.tick()
    b.tick()
    clock.advance(2)
    assert a.elector.release() is True
    assert lease.record == LeaseRecord(None, 1, clock.now(), clock.now(), 0)
    assert a.tick() is Role.STOPPED
    assert b.tick() is Role.LEADER  # no waiting for an expiry
    assert lease.record == LeaseRecord("b", 15, clock.now(), clock.now(), 1)
    assert b.elector.release() is True
    assert a.elector.release() is False  # stopped already: nothing to release


def test_a_standby_releases_nothing(lease: FakeLease, clock: FakeClock) -> None:
    a, b = Replica(lease, "a", clock), Replica(lease, "b", clock)
    a.tick()
    b.tick()
    assert b.elector.release() is False
    assert lease.record is not None and lease.record.holder == "a"


def test_a_conflicting_write_leaves_a_candidate_standing_by(
    lease: FakeLease, clock: FakeClock
) -> None:
    a = Replica(lease, "a", clock)
    racer = lease.client()

    class Racing(FakeLeaseClient):
        """Another replica creates the lease between a's read and a's write."""

        def create(self, record: LeaseRecord) -> None:
            racer.create(LeaseRecord("b", 15, clock.now(), clock.now(), 0))
            super().create(record)

    a.elector.leases = Racing(lease)
    assert a.tick() is Role.CANDIDATE
    assert (a.events, a.elector.holder) == ([], None)
    assert lease.record is not None and lease.record.holder == "b"


def test_an_unreachable_api_server_keeps_a_candidate_waiting(
    lease: FakeLease, clock: FakeClock
) -> None:
    a = Replica(lease, "a", clock)
    a.client.reachable = False
    assert a.tick() is Role.CANDIDATE
    a.client.reachable = True
    assert a.tick() is Role.LEADER


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"identity": ""}, "identity"),
        ({"namespace": ""}, "namespace"),
        ({"lease_name": "Operator_Lease"}, "lease_name"),
        ({"retry_period": 0}, "retry_period"),
        ({"renew_deadline": 15}, "renew_deadline"),
        ({"retry_period": 10}, "retry_period"),
    ],
)
def test_timings_that_could_let_two_lead_are_refused(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"identity": "a", **kwargs}
    with pytest.raises(ValueError, match=f"^{field}: "):
        LeaderElection(**args)  # type: ignore[arg-type]


def seize(lease: FakeLease, record: LeaseRecord) -> None:
    """Write `record` over whatever the lease holds, as another replica would."""
    stored = lease.read()
    lease.write(record, stored.resource_version if stored else None)
