"""Quota accounting for teams that share machines, after Kueue's ClusterQueue and cohort model.

Plain data and integer arithmetic only. CPU and GPUs are counted in milli-units (0.25 GPU = 250),
memory and storage in bytes, so fractions add up exactly: four 0.25-GPU pods fill one GPU.

A queue (one per team namespace) holds, per flavor (e.g. a GPU model), a nominal quota, an
optional borrowing limit and an optional lending limit. Queues in one cohort share a pool: each
lends its nominal quota minus what it guarantees itself (`nominal - lending_limit`, or nothing
when no lending limit is set). A queue may use at most `nominal + borrowing_limit`, and beyond its
guarantee it draws on the pool. `Ledger` keeps those sums so that one fit check is O(resources).
"""

from __future__ import annotations

import sys
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlkube.api.quantity import cpu_millis, format_bytes, format_millis, memory_bytes

FlavorResource = tuple[str, str]  # (flavor, resource)
WithinQueuePolicy = Literal["Never", "LowerPriority"]
ReclaimPolicy = Literal["Never", "LowerPriority", "Any"]
BorrowPolicy = Literal["Never", "LowerPriority"]
QueueingStrategy = Literal["BestEffortFIFO", "StrictFIFO"]


def is_milli(resource: str) -> bool:
    """CPU and GPUs are counted in thousandths, everything else in whole units (bytes)."""
    return resource == "cpu" or resource.endswith("/gpu")


def format_amount(resource: str, amount: int) -> str:
    """An amount as a person would write it in a manifest (`250m`, `2`, `8Gi`)."""
    return format_millis(amount) if is_milli(resource) else format_bytes(amount)


class ResourceVector(Mapping[str, int]):
    """An immutable mapping resource name -> integer amount; zero entries are dropped."""

    __slots__ = ("_hash", "_values")

    def __init__(self, values: Mapping[str, int] | None = None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if v}
        self._hash: int | None = None

    @classmethod
    def of(cls, quantities: Mapping[str, str | int | float]) -> ResourceVector:
        """Parse Kubernetes quantities (`{"cpu": "500m", "nvidia.com/gpu": 0.25}`)."""
        return cls(
            {
                name: cpu_millis(q) if is_milli(name) else memory_bytes(q)
                for name, q in quantities.items()
            }
        )

    def __getitem__(self, key: str) -> int:
        return self._values[key]

    # Direct views: the Mapping defaults go through __getitem__ and dominate hot loops.
    def items(self) -> ItemsView[str, int]:
        return self._values.items()

    def keys(self) -> KeysView[str]:
        return self._values.keys()

    def get_amount(self, key: str) -> int:
        return self._values.get(key, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        # Direct: Mapping's default copies both sides into dicts, and admission compares
        # workload shapes (pod sets and their vectors) every pass.
        if isinstance(other, ResourceVector):
            return self._values == other._values
        return super().__eq__(other)

    def __hash__(self) -> int:
        # Cached: admission hashes workload shapes (pod sets and their vectors) every pass.
        if self._hash is None:
            self._hash = hash(frozenset(self._values.items()))
        return self._hash

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={format_amount(k, v)}" for k, v in sorted(self._values.items()))
        return f"ResourceVector({inner})"

    def __add__(self, other: Mapping[str, int]) -> ResourceVector:
        out = dict(self._values)
        for k, v in other.items():
            out[k] = out.get(k, 0) + v
        return ResourceVector(out)

    def __sub__(self, other: Mapping[str, int]) -> ResourceVector:
        out = dict(self._values)
        for k, v in other.items():
            out[k] = out.get(k, 0) - v
        return ResourceVector(out)

    def scaled(self, factor: int) -> ResourceVector:
        return ResourceVector({k: v * factor for k, v in self._values.items()})

    def fits(self, limit: Mapping[str, int]) -> bool:
        """Every amount is at most the limit's (a resource absent from `limit` counts as 0)."""
        return all(v <= limit.get(k, 0) for k, v in self._values.items())

    def shortfall(self, available: Mapping[str, int]) -> dict[str, int]:
        """Per resource, how much more than `available` this asks for (only what is short)."""
        return {
            k: v - available.get(k, 0) for k, v in self._values.items() if v > available.get(k, 0)
        }

    def dominant_share(self, total: Mapping[str, int]) -> float:
        """The largest fraction of `total` taken by any one resource (DRF's dominant share)."""
        shares = [v / total[k] for k, v in self._values.items() if total.get(k, 0) > 0]
        return max(shares, default=0.0)


@dataclass(frozen=True)
class FlavorQuota:
    """One flavor's quota in one queue. In a limit vector, a resource left out is unlimited."""

    nominal: ResourceVector
    borrowing_limit: ResourceVector | None = None  # None: may borrow anything the cohort lends
    lending_limit: ResourceVector | None = None  # None: lends all unused nominal quota


@dataclass(frozen=True)
class Preemption:
    """Kueue's ClusterQueue preemption settings; the defaults are the issue's rules."""

    within_queue: WithinQueuePolicy = "LowerPriority"
    reclaim_within_cohort: ReclaimPolicy = "Any"
    borrow_within_cohort: BorrowPolicy = "Never"


@dataclass(frozen=True)
class QueueQuota:
    """A team's queue (named after its namespace) and its quota per flavor."""

    name: str
    flavors: Mapping[str, FlavorQuota]
    cohort: str | None = None
    weight: float = 1.0  # fair-share weight; 0 means always last to borrow
    preemption: Preemption = field(default_factory=Preemption)
    strategy: QueueingStrategy = "BestEffortFIFO"


@dataclass(frozen=True)
class FlavorOption:
    """One alternative of a pod set: this flavor, this much per pod."""

    flavor: str
    per_pod: ResourceVector


@dataclass(frozen=True)
class PodSet:
    """`count` identical pods; `options` is the fallback list, most preferred first."""

    name: str
    count: int
    options: tuple[FlavorOption, ...]


@dataclass(frozen=True)
class Workload:
    """A unit of admission. `created` orders equal priorities; `flavors` is set once admitted
    (one chosen flavor per pod set, in order)."""

    key: str
    queue: str
    priority: int
    created: float
    pod_sets: tuple[PodSet, ...]
    flavors: tuple[str, ...] | None = None
    # Usage per flavor choice, computed once: admission and preemption ask for it every pass.
    _usage: dict[tuple[str, ...], Mapping[FlavorResource, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def usage(self, flavors: Sequence[str] | None = None) -> Mapping[FlavorResource, int]:
        """What the workload holds with the given (default: its admitted) flavor choice.
        The mapping is shared; do not change it."""
        chosen = self.flavors if flavors is None else tuple(flavors)
        if chosen is None:
            raise ValueError(f"workload {self.key} is not admitted and no flavors were given")
        cached = self._usage.get(chosen)
        if cached is None:
            cached = self._usage[chosen] = self._compute_usage(chosen)
        return cached

    def _compute_usage(self, chosen: tuple[str, ...]) -> dict[FlavorResource, int]:
        total: dict[FlavorResource, int] = {}
        for pod_set, flavor in zip(self.pod_sets, chosen, strict=True):
            option = next(o for o in pod_set.options if o.flavor == flavor)
            for resource, amount in option.per_pod.items():
                fr = (flavor, resource)
                total[fr] = total.get(fr, 0) + amount * pod_set.count
        return total


Shortage = tuple[str, int, int]  # (which limit binds, requested, available)


class Ledger:
    """Mutable running totals over a snapshot; built, changed and dropped inside one decision.

    `used[q]` is a queue's usage; `pool_used[c]` is how much of cohort c's lendable pool its
    queues take (usage above each queue's guarantee); `pool[c]` is the pool's size.
    """

    def __init__(self, quotas: Mapping[str, QueueQuota], admitted: Iterable[Workload]) -> None:
        self.quotas = quotas
        self.nominal: dict[str, dict[FlavorResource, int]] = {}
        self.guaranteed: dict[str, dict[FlavorResource, int]] = {}
        self.ceiling: dict[str, dict[FlavorResource, int | None]] = {}
        self.pool: dict[str, dict[FlavorResource, int]] = {}
        self.used: dict[str, dict[FlavorResource, int]] = {q: {} for q in quotas}
        self.pool_used: dict[str, dict[FlavorResource, int]] = {}
        for q in quotas.values():
            self._add_queue(q)
        for wl in admitted:
            self.add(wl.queue, wl.usage())

    def _add_queue(self, q: QueueQuota) -> None:
        nominal: dict[FlavorResource, int] = {}
        guaranteed: dict[FlavorResource, int] = {}
        ceiling: dict[FlavorResource, int | None] = {}
        pool = self.pool.setdefault(q.cohort, {}) if q.cohort else None
        if q.cohort:
            self.pool_used.setdefault(q.cohort, {})
        for flavor, fq in q.flavors.items():
            for resource, amount in fq.nominal.items():
                nominal[(flavor, resource)] = amount
        for flavor, fq in q.flavors.items():
            for resource in _resources(fq):
                fr = (flavor, resource)
                nom = nominal.get(fr, 0)
                lend = _limit(fq.lending_limit, resource)
                guaranteed[fr] = nom - lend if lend is not None and q.cohort else 0
                borrow = _limit(fq.borrowing_limit, resource)
                if not q.cohort:
                    ceiling[fr] = nom
                else:
                    ceiling[fr] = None if borrow is None else nom + borrow
                if pool is not None:
                    pool[fr] = pool.get(fr, 0) + nom - guaranteed[fr]
        self.nominal[q.name], self.guaranteed[q.name] = nominal, guaranteed
        self.ceiling[q.name] = ceiling

    def add(self, queue: str, usage: Mapping[FlavorResource, int], sign: int = 1) -> None:
        """Add (or with sign=-1 remove) a workload's usage to its queue and cohort pool."""
        used = self.used[queue]
        guaranteed = self.guaranteed[queue]
        cohort = self.quotas[queue].cohort
        pool_used = self.pool_used[cohort] if cohort else None
        for fr, amount in usage.items():
            before = used.get(fr, 0)
            after = before + sign * amount
            used[fr] = after
            if pool_used is not None:
                g = guaranteed.get(fr, 0)
                delta = max(0, after - g) - max(0, before - g)
                pool_used[fr] = pool_used.get(fr, 0) + delta

    def available(self, queue: str, fr: FlavorResource) -> tuple[int, str]:
        """How much more of `fr` the queue may take now, and which limit binds."""
        # A request for more than any quota is always short; its shortage says what is free.
        limit, _, free = self.shortages(queue, {fr: sys.maxsize})[fr]
        return free, limit

    def shortages(
        self, queue: str, usage: Mapping[FlavorResource, int]
    ) -> dict[FlavorResource, Shortage]:
        """What in `usage` does not fit the queue now; empty when all of it fits."""
        out: dict[FlavorResource, Shortage] = {}
        used, ceiling = self.used[queue], self.ceiling[queue]
        cohort = self.quotas[queue].cohort
        guaranteed = self.guaranteed[queue]
        pool = self.pool[cohort] if cohort else {}
        pool_used = self.pool_used[cohort] if cohort else {}
        capacity = f"cohort {cohort} capacity"
        # The fit check of every attempt, so one loop with no calls: what is free is the
        # queue's own guarantee plus the cohort's unused pool, capped by the borrowing limit;
        # outside a cohort, the nominal quota.
        for fr, amount in usage.items():
            u = used.get(fr, 0)
            top = ceiling.get(fr, 0)
            if cohort is None:
                free, limit = max(0, (top or 0) - u), "nominal quota"
            else:
                free = max(0, guaranteed.get(fr, 0) - u)
                free += max(0, pool.get(fr, 0) - pool_used.get(fr, 0))
                limit = capacity
                if top is not None and top - u < free:
                    free, limit = max(0, top - u), "borrowing limit"
            if amount > free:
                out[fr] = (limit, amount, free)
        return out

    def borrows(self, queue: str) -> bool:
        """Whether the queue's usage exceeds its nominal quota."""
        nominal = self.nominal[queue]
        return any(u > nominal.get(fr, 0) for fr, u in self.used[queue].items())

    def borrowed(self, queue: str) -> dict[FlavorResource, int]:
        """Per flavor and resource, how far the queue is above its nominal quota."""
        nominal = self.nominal[queue]
        return {
            fr: u - nominal.get(fr, 0)
            for fr, u in self.used[queue].items()
            if u > nominal.get(fr, 0)
        }

    def cohort_usage(self, cohort: str) -> dict[FlavorResource, int]:
        """Total usage of the cohort's queues."""
        total: dict[FlavorResource, int] = {}
        for name, q in self.quotas.items():
            if q.cohort == cohort:
                for fr, amount in self.used[name].items():
                    total[fr] = total.get(fr, 0) + amount
        return total


def _resources(fq: FlavorQuota) -> set[str]:
    names = set(fq.nominal)
    for limits in (fq.borrowing_limit, fq.lending_limit):
        names |= set(limits or {})
    return names


def _limit(vector: ResourceVector | None, resource: str) -> int | None:
    return None if vector is None or resource not in vector else vector[resource]


def quota_errors(quota: QueueQuota, used: Mapping[FlavorResource, int] | None = None) -> list[str]:
    """Why a queue's quota is refused (empty when valid). With `used`, the queue's current
    usage, a nominal quota below what is in use is refused naming flavor, resource and amounts."""
    errors: list[str] = []
    where = f"queue {quota.name}"
    if quota.weight < 0:
        errors.append(f"{where}: fair-share weight {quota.weight} must not be negative")
    for flavor, fq in quota.flavors.items():
        for label, vector in (("nominal", fq.nominal), ("borrowingLimit", fq.borrowing_limit)):
            for resource, amount in (vector or {}).items():
                if amount < 0:
                    errors.append(
                        f"{where}: flavor {flavor} {label} {resource} must not be negative"
                    )
        if quota.cohort is None and (fq.borrowing_limit or fq.lending_limit):
            errors.append(
                f"{where}: flavor {flavor} sets borrowing/lending limits without a cohort"
            )
        for resource, lend in (fq.lending_limit or {}).items():
            if not 0 <= lend <= fq.nominal.get_amount(resource):
                errors.append(
                    f"{where}: flavor {flavor} lendingLimit {resource} "
                    f"{format_amount(resource, lend)} must be between 0 and the nominal quota "
                    f"{format_amount(resource, fq.nominal.get_amount(resource))}"
                )
    for (flavor, resource), amount in sorted((used or {}).items()):
        fq_or_none = quota.flavors.get(flavor)
        nominal = fq_or_none.nominal.get_amount(resource) if fq_or_none else 0
        if amount > nominal:
            errors.append(
                f"{where}: new nominal quota {format_amount(resource, nominal)} of {resource} "
                f"in flavor {flavor} is below the {format_amount(resource, amount)} in use; "
                "wait for work to finish or lower it in steps"
            )
    return errors


def workload_errors(workload: Workload, quotas: Mapping[str, QueueQuota]) -> list[str]:
    """Why a workload cannot be queued at all (empty when valid)."""
    where = f"workload {workload.key}"
    errors: list[str] = []
    if workload.queue not in quotas:
        errors.append(f"{where}: queue {workload.queue} does not exist")
    if not workload.pod_sets:
        errors.append(f"{where}: has no pod sets")
    for ps in workload.pod_sets:
        if ps.count < 1:
            errors.append(f"{where}: pod set {ps.name} count {ps.count} must be at least 1")
        if not ps.options:
            errors.append(f"{where}: pod set {ps.name} has no flavor options")
        for option in ps.options:
            if any(v < 0 for v in option.per_pod.values()):
                errors.append(f"{where}: pod set {ps.name} asks for a negative amount")
    return errors
