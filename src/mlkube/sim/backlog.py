"""What waits, and which part of it the next decision has to look at.

Quota admission is monotone within a scope (a cohort, or a queue outside any): while usage
there only grows, a workload that did not fit still does not, so re-running admission over
it cannot admit it and cannot change what others get (a failed try changes nothing). So a
scope is looked at again only when something changed there:

- *fresh*: new candidates arrived (an arrival, a preempted workload queued again, one whose
  "no room" memo was lifted); only they are tried, in the same order admission would use;
- *stale*: usage went down there (a completion, an eviction, quota given back), or a fresh
  candidate joined a StrictFIFO queue (where the head blocks everyone behind it); the whole
  scope's backlog is tried again.

Workloads that quota admitted but no node could host are set aside ("no room") instead of
being admitted, tried on the nodes and given back at every pass, the way kube-scheduler parks
unschedulable pods until a cluster event might help. They come back when nodes gain room that
one of their pods could use, most urgent first and only as many as that room has pods for
(one freed GPU would otherwise wake every waiting gang, each admitted, tried and given back
again); or, for one with fallback flavors, when quota would now assign it flavors other than
those it was tried with. A gang larger than the room gained is still woken by it: room it
found too small before may, with this, be enough.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mlkube.scheduling.admission import Assignment, assign_flavors
from mlkube.scheduling.cluster import GPU_WHOLE, ClusterNode, Task
from mlkube.scheduling.quota import Workload as QuotaWorkload
from mlkube.sim.book import QuotaBook
from mlkube.sim.runs import Run

__all__ = ["Backlog"]


@dataclass(frozen=True, slots=True)
class _NoRoom:
    run: Run
    wake_on: frozenset[Task]  # a node with room for one of these may help
    tried: tuple[str, ...] | None  # the flavors it was tried with
    fallbacks: bool  # it has other flavors quota could assign


class Backlog:
    def __init__(self, book: QuotaBook) -> None:
        self.book = book
        self.queued: dict[str, dict[str, Run]] = {}  # scope -> key -> candidate
        self.unqueued: dict[str, Run] = {}  # no queue: placement only
        self.fresh: dict[str, list[Run]] = {}
        self.stale: set[str] = set()
        self.no_room: dict[str, _NoRoom] = {}

    def add(self, run: Run) -> None:
        """`run` waits and is a candidate at the next decision."""
        if run.quota is None:
            self.unqueued[run.wl.key] = run
            return
        queue = run.quota.queue
        scope = self.book.scope(queue)
        self.queued.setdefault(scope, {})[run.wl.key] = run
        if self.book.quotas[queue].strategy == "StrictFIFO":
            self.stale.add(scope)
        else:
            self.fresh.setdefault(scope, []).append(run)

    def remove(self, run: Run) -> None:
        """`run` no longer waits (it started, or holds quota)."""
        if run.quota is None:
            self.unqueued.pop(run.wl.key, None)
        else:
            self.queued.get(self.book.scope(run.quota.queue), {}).pop(run.wl.key, None)

    def take(self) -> dict[str, list[Run]]:
        """Per scope to decide, the candidates to try; the scopes are then clean."""
        out = {scope: self.all_of(scope) for scope in self.stale}
        fits = self._fits_now()
        for scope, runs in self.fresh.items():
            if scope not in out:
                out[scope] = [r for r in runs if r.state == "waiting" and fits(r)]
        self.stale, self.fresh = set(), {}
        return out

    def all_of(self, scope: str) -> list[Run]:
        """The candidates of `scope` that quota could admit now.

        Within one admission usage only grows, so a workload that does not fit the ledger as
        it is now cannot be admitted by it, and leaving it out changes nothing (a failed try
        has no effect), except in a StrictFIFO queue, where a head that does not fit holds
        back the rest. Checked once per workload shape."""
        fits = self._fits_now()
        return [r for r in self.queued.get(scope, {}).values() if fits(r)]

    def _fits_now(self) -> Callable[[Run], bool]:
        ledger, quotas = self.book.ledger, self.book.quotas
        known: dict[int, bool] = {}

        def fits(run: Run) -> bool:
            answer = known.get(run.shape)
            if answer is None:
                assert run.quota is not None
                strict = quotas[run.quota.queue].strategy == "StrictFIFO"
                fit = isinstance(assign_flavors(ledger, run.quota), Assignment)
                answer = known[run.shape] = strict or fit
            return answer

        return fits

    def heads(self, scopes: Iterable[str]) -> list[Run]:
        """The most urgent candidate of each queue in `scopes`, most urgent first."""
        best: dict[str, Run] = {}
        for scope in scopes:
            for run in self.queued.get(scope, {}).values():
                assert run.quota is not None
                queue = run.quota.queue
                if queue not in best or run.order < best[queue].order:
                    best[queue] = run
        return sorted(best.values(), key=lambda r: r.order)

    # --- no room --------------------------------------------------------------------------

    def park(self, run: Run, flavors: tuple[str, ...] | None) -> None:
        """No node can host `run` with `flavors` now: keep it out of decisions until `wake`."""
        self.remove(run)
        sets = run.wl.pod_sets
        tasks = frozenset(o.task for ps in sets for o in ps.options)
        fallbacks = any(len(ps.options) > 1 for ps in sets)
        self.no_room[run.wl.key] = _NoRoom(run, tasks, flavors, fallbacks)

    def parked(self) -> list[Run]:
        return [memo.run for memo in self.no_room.values()]

    def wake_all(self) -> None:
        for memo in list(self.no_room.values()):
            self.add(memo.run)
        self.no_room.clear()

    def wake(self, nodes: Sequence[ClusterNode], touched: set[str]) -> None:
        """Bring back what the room gained on `nodes` or a quota change in a scope (`touched`)
        may now let start (see the module docstring). One that quota would not admit now
        comes back whenever a node gains room one of its pods fits: failing quota costs
        little, and it must not miss the room while quota holds it back."""
        if not self.no_room or not (nodes or touched):
            return
        waker = _Waker(self.book, nodes, touched)
        for memo in sorted(self.no_room.values(), key=lambda m: m.run.order):
            if waker.wakes(memo):
                del self.no_room[memo.run.wl.key]
                self.add(memo.run)


class _Waker:
    """One `wake`: the room gained and the ledger are fixed while it runs, so what quota
    would assign and what the room holds are computed once per workload shape."""

    def __init__(self, book: QuotaBook, nodes: Sequence[ClusterNode], touched: set[str]) -> None:
        self.book = book
        self.nodes = nodes
        self.touched = touched
        self.slots: dict[Task, int] = {}  # pods of a task the gained room still holds
        self.room: dict[Task, bool] = {}  # whether the gained room held any at the start
        self.assigned: dict[int, tuple[str, ...] | None] = {}  # per workload shape
        self.needs: dict[tuple[int, tuple[str, ...] | None], Counter[Task]] = {}

    def wakes(self, memo: _NoRoom) -> bool:
        run = memo.run
        quota = run.quota
        flavors = memo.tried
        if quota is not None:
            flavors = self._assign(run.shape, quota)
            switched = memo.fallbacks and flavors not in (None, memo.tried)
            if switched and self.book.scope(quota.queue) in self.touched:
                return True  # quota would now try it with other flavors
            if flavors is None:
                return bool(self.nodes) and any(self._any_room(t) for t in memo.wake_on)
        return bool(self.nodes) and self._take_room(run, flavors)

    def _assign(self, key: int, quota: QuotaWorkload) -> tuple[str, ...] | None:
        if key not in self.assigned:
            assignment = assign_flavors(self.book.ledger, quota)
            self.assigned[key] = assignment.flavors if isinstance(assignment, Assignment) else None
        return self.assigned[key]

    def _any_room(self, task: Task) -> bool:
        if task not in self.room:
            self.slots[task] = sum(_slots(n, task) for n in self.nodes)
            self.room[task] = self.slots[task] > 0
        return self.room[task]

    def _take_room(self, run: Run, flavors: tuple[str, ...] | None) -> bool:
        key = (run.shape, flavors)
        need = self.needs.get(key)
        if need is None:
            need = self.needs[key] = Counter(run.wl.tasks(flavors))
        for task in need:
            self._any_room(task)
        if not any(self.slots[task] for task in need):
            return False
        for task, count in need.items():  # what it would take of that room
            self.slots[task] = max(0, self.slots[task] - count)
        return True


def _slots(node: ClusterNode, task: Task) -> int:
    """How many pods of `task` fit on `node` as it is now."""
    if task.gpu_models and task.num_gpu and node.gpu_model not in task.gpu_models:
        return 0
    counts = [
        node.cpu_free // task.cpu_milli if task.cpu_milli else _MANY,
        node.memory_free // task.memory_mib if task.memory_mib else _MANY,
    ]
    if task.num_gpu and task.gpu_milli < GPU_WHOLE:
        counts.append(sum(g // task.gpu_milli for g in node.gpus))
    elif task.num_gpu:
        counts.append(sum(g == GPU_WHOLE for g in node.gpus) // task.num_gpu)
    return min(counts)


_MANY = 1 << 30
