"""The simulation loop: a virtual clock and an event heap driving the platform's pure policies.

Events are arrivals, completions, the end of a preempted workload's grace period, nodes of a
group becoming ready, and wake-ups when an idle node may have become unneeded. The clock jumps
from one event to the next (rounded up to `SimSettings.tick_s`), so ten virtual hours cost what
their decisions cost. At each such time, after applying its events, one pass decides:

1. quota admission (`mlkube.scheduling.admission.admit`) with the team queues the platform
   itself would use, only where something changed since the last pass (backlog.py);
2. placement of every pod of each admitted workload (`mlkube.scheduling.placement`), as a
   gang: if any pod does not fit, none is placed, the quota is given back and the workload is
   set aside until a node gains room it could use; admission runs again in that scope (up to
   a few rounds) so the quota it held is not wasted; workloads of namespaces without a queue
   go straight to placement;
3. preemption (preempt.py) for the head of each queue that quota blocks;
4. the node-group autoscaler (scale.py) for what quota admitted but no node could host: new
   nodes become ready after `provisioning_s`, empty ones go away after `scale_down_unneeded_s`.

Not modelled: the network, image pulls and container start-up, node failures, pods of one
workload starting at different times (a workload runs `duration` once all its pods are placed),
work that slows down when it shares a GPU, kube-scheduler's own pod preemption (only quota
preemption), and moving running work off under-used nodes.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import replace

from mlkube.scheduling.admission import (
    AdmissionDecision,
    Assignment,
    Snapshot,
    admit,
    assign_flavors,
)
from mlkube.scheduling.quota import Workload as QuotaWorkload
from mlkube.sim.backlog import Backlog
from mlkube.sim.book import QuotaBook
from mlkube.sim.metrics import Metrics
from mlkube.sim.nodes import NodePool, policy_for
from mlkube.sim.preempt import Preemption
from mlkube.sim.results import SimResult
from mlkube.sim.runs import ARRIVE, EVICTED, FINISH, READY, WAKE, Run
from mlkube.sim.scale import scale_node_groups
from mlkube.sim.spec import SimSpec

__all__ = ["run"]

ADMISSION_ROUNDS = 4  # admit again after gangs gave their quota back, at most this often


def run(spec: SimSpec) -> SimResult:
    """Simulate `spec` to the end (no events left) and report. Deterministic: the same spec
    gives the same result, wall time aside."""
    return _Engine(spec).run()


class _Engine:
    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        self.settings = spec.settings
        self.autoscale = bool(spec.settings.autoscale and spec.groups)
        self.pool = NodePool(spec.nodes, spec.groups)
        self.policy = policy_for(spec)
        self.book = QuotaBook(spec.queues.quotas)
        self.backlog = Backlog(self.book)
        shapes: dict[object, int] = {}
        self.runs = {
            wl.key: Run(
                wl,
                wl.quota_workload(wl.arrival) if wl.queue else None,
                shapes.setdefault((wl.queue, wl.pod_sets), len(shapes)),
            )
            for wl in spec.workloads
        }
        self.preemption = Preemption(self.book, self.backlog, self.runs)
        self.metrics = Metrics(self.pool)
        self.events: list[tuple[float, int, int, str, int]] = []
        self.seq = 0
        self.upcoming = {g.name: 0 for g in spec.groups}
        self.to_place: list[Run] = []  # reserved preemptors whose victims are gone

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> SimResult:
        start = time.perf_counter()
        for wl in self.spec.workloads:
            self._push(wl.arrival, ARRIVE, wl.key)
        if self.pool.group_nodes():
            self._wake_after_idle(0.0)
        self.metrics.sample(0.0)
        while self.events or self._last_try():
            now = self._pass_time(self.events[0][0])
            self.metrics.account(now)
            while self.events and self.events[0][0] <= now:
                t, _, kind, key, gen = heapq.heappop(self.events)
                self._apply(t, kind, key, gen)
            self._pass(now)
            self.metrics.sample(now)
        wall = time.perf_counter() - start
        return self.metrics.result(self.runs, self.preemption, wall=wall)

    def _last_try(self) -> bool:
        """Nothing is left to happen: try what waits for room once more (it is woken only by
        room that its pods could use, which a gang may have missed), and go on if that
        started anything."""
        if not self.backlog.no_room:
            return False
        self.backlog.wake_all()
        self._pass(self.metrics.last)
        self.metrics.sample(self.metrics.last)
        return bool(self.events)

    def _pass_time(self, t: float) -> float:
        tick = self.settings.tick_s
        return math.ceil(t / tick) * tick if tick > 0 else t

    def _push(self, at: float, kind: int, key: str, gen: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, key, gen))

    def _apply(self, t: float, kind: int, key: str, gen: int) -> None:
        if kind == ARRIVE:
            self._queue(self.runs[key], t)
        elif kind == READY:
            self.upcoming[key] -= gen
            self.pool.add_nodes(key, gen, now=t)
            self._wake_after_idle(t)
        elif kind in (FINISH, EVICTED):
            run = self.runs[key]
            if run.generation != gen:
                return  # a completion or eviction from before a preemption
            if kind == FINISH:
                self._finish(run, t)
            else:
                self._evicted(run, t)

    def _queue(self, run: Run, t: float) -> None:
        run.state, run.enqueued = "waiting", t
        self.backlog.add(run)

    def _finish(self, run: Run, t: float) -> None:
        if run.state != "running":
            return
        self._release(run, t)
        if run.quota is not None:
            self.book.drop(run.quota)
        run.state = "done"
        self.metrics.finished += 1
        self.metrics.last_finish = max(self.metrics.last_finish, t)

    def _evicted(self, run: Run, t: float) -> None:
        """The grace period is over: the victim's pods are gone, and it queues again."""
        self._release(run, t)
        self._queue(run, t)
        preemptor = self.runs.get(run.preemptor or "")
        run.preemptor = None
        if preemptor is not None and preemptor.state == "reserved":
            preemptor.blockers -= 1
            if preemptor.blockers == 0:
                self.to_place.append(preemptor)

    def _release(self, run: Run, t: float) -> None:
        emptied = self.pool.release(run.held, now=t)
        run.held = []
        if emptied:
            self._wake_after_idle(t)

    def _wake_after_idle(self, t: float) -> None:
        if self.autoscale:
            self._push(t + self.settings.scale_down_unneeded_s, WAKE, "")

    # --- one pass ---------------------------------------------------------------------------

    def _pass(self, now: float) -> None:
        touched, freed = self.book.take_changes()
        self.backlog.stale |= freed
        self.backlog.wake(self.pool.take_gained(), touched)
        unplaced = self._place_reserved(now)
        decided = self._admit_and_place(now)
        self._place_unqueued(now)
        scopes = decided | touched | self.book.touched
        self.preemption.step(scopes, lambda victim: self._grace(victim, now))
        if self.autoscale:
            self._autoscale(unplaced, now)

    def _place_reserved(self, now: float) -> list[Run]:
        """Start preemptors whose victims are gone. One whose pods do not fit keeps its quota
        (it reclaimed it; giving it back would let its victims, older, take it again) and
        tries again at the next pass; the autoscaler sees it as pending."""
        waiting = [r for r in self.to_place if r.state == "reserved"]
        self.to_place = [r for r in waiting if not self._start(r, r.flavors, now)]
        return list(self.to_place)

    def _admit_and_place(self, now: float) -> set[str]:
        """Quota admission where something changed, then placement of each admitted gang.
        When gangs gave their quota back, admission runs again over the whole backlog of the
        scopes that got it, a few rounds at most. Returns the scopes decided.

        Its wall time, placement aside, counts as admission time in `SimResult.decisions`."""
        start, placing = time.perf_counter(), self.pool.placement_s
        decided = self._admission_rounds(now)
        spent = time.perf_counter() - start - (self.pool.placement_s - placing)
        self.metrics.admission_s += spent
        return decided

    def _admission_rounds(self, now: float) -> set[str]:
        candidates = self.backlog.take()
        decided = set(candidates)
        for _ in range(ADMISSION_ROUNDS):
            waiting = [r.quota for runs in candidates.values() for r in runs if r.quota]
            if not waiting:
                return decided
            decision = self._admit(waiting, now)
            for reason in decision.pending.values():
                self.runs[reason.key].quota_reason = reason
            again: set[str] = set()
            for admitted in decision.admitted:
                run = self.runs[admitted.key]
                run.flavors = admitted.flavors
                if not self._start(run, admitted.flavors, now):
                    again.add(self._give_back(run, admitted.flavors))
            candidates = {s: self.backlog.all_of(s) for s in again}
        self.backlog.stale |= set(candidates)  # out of rounds: look again at the next pass
        return decided

    def _admit(self, waiting: list[QuotaWorkload], now: float) -> AdmissionDecision:
        self.metrics.admission_decisions += len(waiting)
        snapshot = Snapshot(self.book.quotas, (), waiting)
        return admit(snapshot, now=now, ledger=self.book.ledger)  # adds what it admits

    def _place_unqueued(self, now: float) -> None:
        free = sorted(self.backlog.unqueued.values(), key=lambda r: r.order)
        for run in free:
            if not self._start(run, None, now):
                self.backlog.park(run, None)

    def _start(self, run: Run, flavors: tuple[str, ...] | None, now: float) -> bool:
        """Place every pod of `run` and start it, or place none and return False."""
        tasks = run.wl.tasks(flavors)
        held = self.pool.place_gang(tasks, self.policy, now=now)
        if held is None:
            run.reason = f"no node can host all {len(tasks)} pod(s) now"
            run.quota_reason = None
            return False
        if run.quota is not None and run.state == "waiting":
            run.quota = replace(run.quota, flavors=flavors)
            self.book.hold(run.quota, counted=True)  # admission added it to the ledger
        self.backlog.remove(run)
        run.held, run.state, run.started = held, "running", True
        run.wait += now - run.enqueued
        self.metrics.admissions += 1
        self._push(now + run.wl.duration, FINISH, run.wl.key, run.generation)
        return True

    def _give_back(self, run: Run, flavors: tuple[str, ...]) -> str:
        """Return the quota admission gave `run`, which no node can host now; it waits, set
        aside until a node gains room. Returns its scope."""
        assert run.quota is not None
        self.book.drop(run.quota, flavors, frees=False)  # this pass admits again there
        run.quota = replace(run.quota, flavors=None)
        self.backlog.park(run, flavors)
        return self.book.scope(run.quota.queue)

    def _grace(self, victim: Run, now: float) -> None:
        at = now + self.settings.preemption_grace_s
        self._push(at, EVICTED, victim.wl.key, victim.generation)

    # --- node groups ------------------------------------------------------------------------

    def _autoscale(self, reserved: list[Run], now: float) -> None:
        """Scale for reserved preemptors that do not fit, then for what waits for room (most
        urgent first) while quota would still admit it."""
        parked = sorted(self.backlog.parked(), key=lambda r: (r.quota is None, r.order))
        unplaced = reserved + [r for r in parked if self._admissible(r)]
        decision = scale_node_groups(self.spec, self.pool, self.upcoming, unplaced, now=now)
        for group, count in decision.scale_up.items():
            self.upcoming[group] += count
            self._push(now + self.settings.provisioning_s, READY, group, count)

    def _admissible(self, run: Run) -> bool:
        if run.quota is None:
            return True
        return isinstance(assign_flavors(self.book.ledger, run.quota), Assignment)
