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
    be passed to save rebuilding it; it is left as it was."""
    book = ledger or Ledger(snapshot.quotas, snapshot.admitted)
    quota = snapshot.quotas[workload.queue]
    for flavors in _flavor_choices(workload):
        usage = workload.usage(flavors)
        if not book.shortages(workload.queue, usage):
            return []
        for candidates, may_borrow in _attempts(snapshot, quota, workload, usage):
            targets = _minimal_set(book, workload, usage, candidates, may_borrow=may_borrow)
            if targets is not None:
                return targets
    return None


def _flavor_choices(workload: Workload) -> Iterator[tuple[str, ...]]:
    options = [[o.flavor for o in ps.options] for ps in workload.pod_sets]
    return itertools.islice(itertools.product(*options), MAX_FLAVOR_COMBINATIONS)


def _attempts(
    snapshot: Snapshot, quota: QueueQuota, workload: Workload, usage: Mapping[FlavorResource, int]
) -> Iterator[tuple[list[Victim], bool]]:
    """Candidate lists in the order to try them, each with whether the preemptor may borrow."""
    policy = quota.preemption
    own: list[Victim] = []
    others: list[Victim] = []
    for wl in snapshot.admitted:
        held = wl.usage()
        if not any(fr in usage for fr in held):
            continue  # evicting it frees nothing the preemptor needs
        if wl.queue == workload.queue:
            if policy.within_queue == "LowerPriority" and wl.priority < workload.priority:
                own.append((wl, held))
        elif quota.cohort is not None and snapshot.quotas[wl.queue].cohort == quota.cohort:
            lower = wl.priority < workload.priority
            if policy.reclaim_within_cohort == "Any" or (
                policy.reclaim_within_cohort == "LowerPriority" and lower
            ):
                others.append((wl, held))
    own.sort(key=_cheapest_first)
    others.sort(key=_cheapest_first)
    if others:
        # Reclaiming nominal quota from borrowers comes first: they hold what is not theirs.
        yield others + own, False
        if policy.borrow_within_cohort == "LowerPriority":
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
