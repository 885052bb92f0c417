"""Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`.

    elector = LeaderElector(KubeLeases(api_client, "mlkube-system", "mlkube-operator"),
                            LeaderElection(identity="op-7d9f_1a2b3c4d"), clock=SystemClock(),
                            on_started=start_controllers, on_lost=exit_process)
    thread = threading.Thread(target=elector.run, args=(stop_event,)); thread.start()
    ...
    stop_event.set(); thread.join(); elector.release()

Every `retry_period` the elector reads the Lease, asks `mlkube.server.lease.decide` what to
do, and writes with optimistic concurrency (the Lease's resourceVersion): a conflict means
another replica wrote first, and it tries again next period. A leader that cannot renew for
`renew_deadline` (the API server unreachable, conflicts), or that finds another holder, has
lost: `on_lost` runs once and the elector stops for good, so the caller stops its controllers
and exits; it never leads again in this process (as controller-runtime does).

`renew_deadline` is shorter than `lease_duration`, so a leader that loses the API server gives
up before any standby can consider its lease expired: the two never lead at once as long as
the leader stops its work within `lease_duration - renew_deadline` (5 s by default).
"""

from __future__ import annotations

import enum
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import urllib3
from kubernetes.client import ApiClient, CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from mlkube.api.clock import Clock
from mlkube.install.operator import DEFAULT_NAMESPACE
from mlkube.runtime.kubernetes.raw import body, json_of
from mlkube.server.lease import Action, LeaseRecord, decide, lease_object, record_of, released

__all__ = [
    "DEFAULT_LEASE_NAME",
    "KubeLeases",
    "LeaderElection",
    "LeaderElector",
    "LeaseClient",
    "LeaseConflict",
    "LeaseUnavailable",
    "Role",
    "StoredLease",
]

log = logging.getLogger("mlkube.leader")

DEFAULT_LEASE_NAME = "mlkube-operator"
# A DNS-1123 subdomain, as Kubernetes names Leases and (labels only) namespaces.
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


@dataclass(frozen=True)
class LeaderElection:
    """Who this replica is, which Lease it competes for, and the timings (client-go's
    defaults unless set). Raises `ValueError` naming the field when one is empty, or when the
    timings could let two replicas lead at once."""

    identity: str
    namespace: str = DEFAULT_NAMESPACE
    lease_name: str = DEFAULT_LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("identity: must not be empty")
        for name in ("namespace", "lease_name"):
            if not _DNS_NAME.fullmatch(getattr(self, name)):
                raise ValueError(
                    f"{name}: {getattr(self, name)!r} is not a valid name (lower-case letters, "
                    "digits, '-' and '.', starting and ending with a letter or digit, "
                    "at most 253 characters)"
                )
        for field in ("lease_duration", "renew_deadline", "retry_period"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field}: must be above 0, not {getattr(self, field)}")
        if self.renew_deadline >= self.lease_duration:
            raise ValueError(
                f"renew_deadline: must be shorter than lease_duration ({self.lease_duration}s), "
                f"or a standby could take the lease while the leader still runs"
            )
        if self.retry_period >= self.renew_deadline:
            raise ValueError(
                f"retry_period: must be shorter than renew_deadline ({self.renew_deadline}s), "
                f"or a leader gives up after a single failed renewal"
            )

    @property
    def lease_duration_seconds(self) -> int:
        """What the Lease says (whole seconds, at least 1)."""
        return max(1, round(self.lease_duration))


@dataclass(frozen=True)
class StoredLease:
    """A Lease as read: its record and the resourceVersion to write it back under."""

    record: LeaseRecord
    resource_version: str


class LeaseConflict(Exception):
    """Another replica created or changed the Lease first."""


class LeaseUnavailable(Exception):
    """The Lease could not be read or written (the API server unreachable or refusing)."""


class LeaseClient(Protocol):
    """The one Lease the elector uses. Methods raise `LeaseConflict` or `LeaseUnavailable`."""

    def read(self) -> StoredLease | None:
        """The Lease, or None when there is none."""
        ...

    def create(self, record: LeaseRecord) -> None:
        """Create the Lease; `LeaseConflict` if it exists."""
        ...

    def replace(self, record: LeaseRecord, resource_version: str) -> None:
        """Write the Lease if it is still at `resource_version`; `LeaseConflict` if not."""
        ...


class KubeLeases:
    """`LeaseClient` through the official client's `CoordinationV1Api`. The caller owns
    `api_client`. Each request gives up after `timeout` seconds: a hung API server must not
    hold a leader past its renew deadline (the elector passes its retry period)."""

    def __init__(
        self, api_client: ApiClient, namespace: str, name: str, *, timeout: float = 2.0
    ) -> None:
        self._api = CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.timeout = timeout

    def read(self) -> StoredLease | None:
        try:
            lease = json_of(
                self._api.read_namespaced_lease(
                    self.name, self.namespace, _preload_content=False, _request_timeout=self.timeout
                )
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise _unavailable(err) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise LeaseUnavailable(str(err)) from None
        return StoredLease(record_of(lease), str(lease["metadata"]["resourceVersion"]))

    def create(self, record: LeaseRecord) -> None:
        lease = lease_object(record, name=self.name, namespace=self.namespace)
        self._write(
            lambda: self._api.create_namespaced_lease(
                self.namespace, body(lease), _request_timeout=self.timeout
            )
        )

    def replace(self, record: LeaseRecord, resource_version: str) -> None:
        lease = lease_object(
            record, name=self.name, namespace=self.namespace, resource_version=resource_version
        )
        self._write(
            lambda: self._api.replace_namespaced_lease(
                self.name, self.namespace, body(lease), _request_timeout=self.timeout
            )
        )

    def _write(self, call: Callable[[], object]) -> None:
        try:
            call()
        except ApiException as err:
            if err.status == 409:  # Conflict (stale resourceVersion) or AlreadyExists
                raise LeaseConflict(str(err.reason)) from None
            raise _unavailable(err) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise LeaseUnavailable(str(err)) from None


def _unavailable(err: ApiException) -> LeaseUnavailable:
    where = "the operator's namespace may not exist" if err.status == 404 else "see the operator"
    return LeaseUnavailable(f"{err.status} {err.reason} ({where})")


class Role(enum.Enum):
    CANDIDATE = "candidate"  # not leading (yet): trying every retry period
    LEADER = "leader"
    LOST = "lost"  # led, then lost: done for good in this process
    STOPPED = "stopped"  # stopped cleanly (and released the lease if it held it)


class LeaderElector:
    """One replica's side of the election (see the module docstring). `tick` is one try;
    `run` repeats it every `retry_period` until stopped or lost. `on_started` and `on_lost`
    are called from the thread that ticks, once each at most; they must return quickly."""

    def __init__(
        self,
        leases: LeaseClient,
        config: LeaderElection,
        *,
        clock: Clock,
        on_started: Callable[[], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.leases = leases
        self.config = config
        self.clock = clock
        self._on_started = on_started
        self._on_lost = on_lost
        self.role = Role.CANDIDATE
        self.holder: str | None = None  # the leader as last read (None: none, or unknown)
        self._lock = threading.Lock()
        self._observed: tuple[str, float] | None = None  # resourceVersion, when first seen
        self._renewed_at = 0.0  # monotonic time of my last successful write as leader

    def run(self, stop: threading.Event) -> None:
        """Tick every `retry_period` until `stop` is set or leadership is lost."""
        while not stop.is_set():
            if self.tick() in (Role.LOST, Role.STOPPED):
                return
            stop.wait(self.config.retry_period)

    def tick(self) -> Role:
        """Read the Lease, decide, write; returns the role after this try."""
        with self._lock:
            if self._done():
                return self.role
            try:
                self._try()
            except (LeaseConflict, LeaseUnavailable) as err:
                log.info("lease %s: %s", self.config.identity, err)
                self._after_failure()
            role = self.role
        if role is Role.LOST:
            self._on_lost()
        return role

    def _done(self) -> bool:
        return self.role in (Role.LOST, Role.STOPPED)

    def _try(self) -> None:
        stored = self.leases.read()
        decision = decide(
            stored.record if stored else None,
            identity=self.config.identity,
            now=self.clock.now(),
            unchanged_for=self._unchanged_for(stored),
            lease_duration_seconds=self.config.lease_duration_seconds,
            leading=self.role is Role.LEADER,
        )
        self.holder = stored.record.holder if stored else None
        if decision.action is Action.LOST:
            log.error("lost the lease: %s", decision.reason)
            self.role = Role.LOST
            return
        if decision.record is None:
            self._after_failure()
            return
        self._write(decision.record, stored, decision.reason)

    def _write(self, record: LeaseRecord, stored: StoredLease | None, reason: str) -> None:
        if stored is None:
            self.leases.create(record)
        else:
            self.leases.replace(record, stored.resource_version)
        self._renewed_at = self.clock.monotonic()
        self.holder = record.holder
        if self.role is Role.CANDIDATE:
            log.info("%s leads now (%s)", self.config.identity, reason)
            self.role = Role.LEADER
            self._on_started()

    def _after_failure(self) -> None:
        """A try that did not renew: a leader past its renew deadline has lost."""
        if self.role is not Role.LEADER:
            return
        late = self.clock.monotonic() - self._renewed_at
        if late >= self.config.renew_deadline:
            log.error("lost the lease: not renewed for %.1fs", late)
            self.role = Role.LOST

    def _unchanged_for(self, stored: StoredLease | None) -> float:
        """How long this replica has seen the Lease at its current resourceVersion."""
        now = self.clock.monotonic()
        version = stored.resource_version if stored else ""
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, now)
        return now - self._observed[1]

    def release(self) -> bool:
        """Stop for good; a leader clears the Lease's holder so a standby takes over at once.
        Call after the work the lease guarded has stopped. True if the lease was released."""
        with self._lock:
            leading = self.role is Role.LEADER
            self.role = Role.STOPPED if self.role is not Role.LOST else Role.LOST
            if not leading:
                return False
            try:
                current = self.leases.read()
                if current is None or current.record.holder != self.config.identity:
                    return False
                self.leases.replace(
                    released(current.record, self.clock.now()), current.resource_version
                )
            except (LeaseConflict, LeaseUnavailable) as err:
                log.warning("could not release the lease (it will expire): %s", err)
                return False
            return True
