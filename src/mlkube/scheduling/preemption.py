"""Which admitted workloads to preempt so that a pending one fits (Kueue's preemption rules).

Pure: a snapshot and a workload in, a list of workload keys out. Two sources of victims,
each allowed by the preemptor's queue settings (`Preemption`):

- within its own queue, workloads of lower priority (`within_queue="LowerPriority"`);
- in its cohort, workloads of other queues that are borrowing the flavor/resource it needs,
  while it reclaims its own nominal quota (`reclaim_within_cohort`: "Any" priority, or only
  "LowerPriority"). Reclaiming never lets the preemptor itself borrow, unless
  `borrow_within_cohort="LowerPriority"`, and then only lower-priority workloads are taken.

Victims are tried cheapest first: other queues' before the preemptor's own, lower priority
first, youngest first; once the workload fits, victims that turn out not to be needed are
given back (newest choice first), so the set is minimal in that no victim can be spared.
The caller evicts them (with their grace period) and requeues them; admission then admits.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

from mlkube.scheduling.admission import Snapshot
from mlkube.scheduling.quota import FlavorResource, Ledger, QueueQuota, Workload

# Gangs with several pod sets and long fallback lists multiply; look at the first few choices.
MAX_FLAVOR_COMBINATIONS = 16

Victim = tuple[Workload, Mapping[FlavorResource, int]]


def preemption_targets(
    snapshot: Snapshot, workload: Workload, *, ledger: Ledger | None = None
) -> list[str] | None:
    """Keys of a minimal set of admitted workloads whose eviction lets `workload` fit, or None
    when no allowed set does. `[]` means it fits already. A `ledger` built from the snapshot may
    be passed to save rebuilding it; it is left as it was.

    Cost: one scan of `snapshot.admitted`, then work in the size of the preemptor's queue and
    cohort only."""
    book = ledger or Ledger(snapshot.quotas, snapshot.admitted)
    quota = snapshot.quotas[workload.queue]
    nearby: tuple[list[Victim], list[Victim]] | None = None
    for flavors in _flavor_choices(workload):
        usage = workload.usage(flavors)
        if not book.shortages(workload.queue, usage):
            return []
        if nearby is None:
            nearby = _allowed_victims(snapshot, quota, workload)
        for candidates, may_borrow in _attempts(*nearby, quota, workload, usage):
            targets = _minimal_set(book, workload, usage, candidates, may_borrow=may_borrow)
            if targets is not None:
                return targets
    return None


def _flavor_choices(workload: Workload) -> Iterator[tuple[str, ...]]:
    options = [[o.flavor for o in ps.options] for ps in workload.pod_sets]
    return itertools.islice(itertools.product(*options), MAX_FLAVOR_COMBINATIONS)


def _allowed_victims(
    snapshot: Snapshot, quota: QueueQuota, workload: Workload
) -> tuple[list[Victim], list[Victim]]:
    """Admitted workloads the queue's policy lets `workload` preempt, whatever the flavor:
    its own queue's and its cohort's other queues', each cheapest first."""
    policy = quota.preemption
    own_allowed = policy.within_queue == "LowerPriority"
    reclaim = policy.reclaim_within_cohort
    cohort = quota.cohort
    neighbours: set[str] = set()
    if cohort is not None and reclaim != "Never":
        neighbours = {n for n, q in snapshot.quotas.items() if q.cohort == cohort}
        neighbours.discard(workload.queue)
    own: list[Victim] = []
    others: list[Victim] = []
    for wl in snapshot.admitted:
        if wl.queue == workload.queue:
            if own_allowed and wl.priority < workload.priority:
                own.append((wl, wl.usage()))
        elif wl.queue in neighbours and (reclaim == "Any" or wl.priority < workload.priority):
            others.append((wl, wl.usage()))
    own.sort(key=_cheapest_first)  # stable: ties keep the snapshot's order
    others.sort(key=_cheapest_first)
    return own, others


def _attempts(
    own_allowed: list[Victim],
    others_allowed: list[Victim],
    quota: QueueQuota,
    workload: Workload,
    usage: Mapping[FlavorResource, int],
) -> Iterator[tuple[list[Victim], bool]]:
    """Candidate lists in the order to try them, each with whether the preemptor may borrow.
    Only workloads holding something the preemptor needs are candidates: evicting any other
    frees nothing."""
    own = [v for v in own_allowed if any(fr in usage for fr in v[1])]
    others = [v for v in others_allowed if any(fr in usage for fr in v[1])]
    if others:
        # Reclaiming nominal quota from borrowers comes first: they hold what is not theirs.
        yield others + own, False
        if quota.preemption.borrow_within_cohort == "LowerPriority":
            lower_others = [v for v in others if v[0].priority < workload.priority]
            yield lower_others + own, True
    if own:
        yield own, True


def _cheapest_first(victim: Victim) -> tuple[int, float]:
    return victim[0].priority, -victim[0].created


def _minimal_set(
    ledger: Ledger,
    workload: Workload,
    usage: Mapping[FlavorResource, int],
    candidates: list[Victim],
    *,
    may_borrow: bool,
) -> list[str] | None:
    """Evict greedily until `workload` fits, then give back what was not needed."""
    queue = workload.queue

    def fits() -> bool:
        if ledger.shortages(queue, usage):
            return False
        return may_borrow or not _above_nominal(ledger, queue, usage)

    taken: list[Victim] = []
    for wl, held in candidates:
        if fits():
            break
        if wl.queue != queue and not _borrowing_any(ledger, wl.queue, held, usage):
            continue  # only what a queue borrows may be reclaimed from it
        ledger.add(wl.queue, held, -1)
        taken.append((wl, held))
    if not fits():
        for wl, held in taken:
            ledger.add(wl.queue, held)
        return None
    needed: list[Victim] = []
    for wl, held in reversed(taken):
        ledger.add(wl.queue, held)
        if fits():
            continue  # spared: the workload fits with this one still running
        ledger.add(wl.queue, held, -1)
        needed.append((wl, held))
    for wl, held in needed:
        ledger.add(wl.queue, held)
    return [wl.key for wl, _ in reversed(needed)]


def _above_nominal(ledger: Ledger, queue: str, usage: Mapping[FlavorResource, int]) -> bool:
    used, nominal = ledger.used[queue], ledger.nominal[queue]
    return any(used.get(fr, 0) + amount > nominal.get(fr, 0) for fr, amount in usage.items())


def _borrowing_any(
    ledger: Ledger,
    queue: str,
    held: Mapping[FlavorResource, int],
    wanted: Mapping[FlavorResource, int],
) -> bool:
    used, nominal = ledger.used[queue], ledger.nominal[queue]
    return any(fr in wanted and used.get(fr, 0) > nominal.get(fr, 0) for fr in held)
