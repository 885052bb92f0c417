"""An in-memory Lease for leader-election tests: one `FakeLease` shared by several replicas,
each reaching it through its own `FakeLeaseClient`, whose connection a test can cut.

    lease = FakeLease()
    a, b = lease.client(), lease.client()
    a.reachable = False          # a's API server is gone: its reads and writes fail
"""

from __future__ import annotations

import threading

from mlkube.server.leader import LeaseConflict, LeaseUnavailable, StoredLease
from mlkube.server.lease import LeaseRecord

__all__ = ["FakeLease", "FakeLeaseClient"]


class FakeLease:
    """One Lease with a resourceVersion that goes up on every write. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: StoredLease | None = None
        self._version = 0
        self.writes: list[LeaseRecord] = []  # every record written, in order

    def client(self) -> FakeLeaseClient:
        return FakeLeaseClient(self)

    @property
    def record(self) -> LeaseRecord | None:
        with self._lock:
            return self._stored.record if self._stored else None

    def read(self) -> StoredLease | None:
        with self._lock:
            return self._stored

    def write(self, record: LeaseRecord, resource_version: str | None) -> None:
        """Create (`resource_version` None) or replace at `resource_version`, or conflict."""
        with self._lock:
            current = self._stored.resource_version if self._stored else None
            if resource_version != current:
                raise LeaseConflict(f"at {current}, not {resource_version}")
            self._version += 1
            self._stored = StoredLease(record, str(self._version))
            self.writes.append(record)


class FakeLeaseClient:
    """A `mlkube.server.leader.LeaseClient` of a `FakeLease`; `reachable = False` makes every
    call raise `LeaseUnavailable`, as when the API server cannot be reached."""

    def __init__(self, lease: FakeLease) -> None:
        self.lease = lease
        self.reachable = True

    def read(self) -> StoredLease | None:
        self._check()
        return self.lease.read()

    def create(self, record: LeaseRecord) -> None:
        self._check()
        self.lease.write(record, None)

    def replace(self, record: LeaseRecord, resource_version: str) -> None:
        self._check()
        self.lease.write(record, resource_version)

    def _check(self) -> None:
        if not self.reachable:
            raise LeaseUnavailable("connection refused")
