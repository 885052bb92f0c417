"""The preemption step of a pass: for the head of each queue that quota blocks, ask
`mlkube.scheduling.preemption` for victims, and evict them.

Victims lose their quota at once, keep their nodes for the grace period (the engine's EVICTED
event), and then queue again, keeping their age. The preemptor keeps the quota it freed
(Kueue reserves it in the same cycle; otherwise the victims, older, would take it back when
they queue again) and starts once its victims are gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from mlkube.scheduling.admission import Assignment, Snapshot, assign_flavors
from mlkube.scheduling.preemption import preemption_targets
from mlkube.scheduling.quota import Workload as QuotaWorkload
from mlkube.sim.backlog import Backlog
from mlkube.sim.book import QuotaBook
from mlkube.sim.runs import Run

__all__ = ["Preemption"]

Evict = Callable[[Run], None]  # schedules the end of a victim's grace period


class Preemption:
    def __init__(self, book: QuotaBook, backlog: Backlog, runs: Mapping[str, Run]) -> None:
        self.book = book
        self.backlog = backlog
        self.runs = runs
        self.count = 0
        self.asked = 0  # heads the policy was asked about
        self.spent = 0.0  # wall time of the step
        # A head for which no set of victims would do, with its scope's version then: it is
        # not asked again until usage in its scope changes.
        self._no_victims: dict[str, int] = {}

    def step(self, scopes: Iterable[str], evict: Evict) -> None:
        """Preempt for the heads of the queues in `scopes` (those where something changed;
        elsewhere every head has already been answered)."""
        start = time.perf_counter()
        self._step(scopes, evict)
        self.spent += time.perf_counter() - start

    def _step(self, scopes: Iterable[str], evict: Evict) -> None:
        for head in self.backlog.heads(scopes):
            assert head.quota is not None
            if head.state != "waiting":
                continue
            version = self.book.scope_version(head.quota.queue)
            if self._no_victims.get(head.wl.key) == version:
                continue
            self.asked += 1
            running = self._running(self.book.scope(head.quota.queue))
            snapshot = Snapshot(self.book.quotas, running, [])
            targets = preemption_targets(snapshot, head.quota, ledger=self.book.ledger)
            if targets is None:
                self._no_victims[head.wl.key] = version
            elif targets:
                self._evict(head, targets, evict)

    def _running(self, scope: str) -> list[QuotaWorkload]:
        return [w for w in self.book.holders(scope) if self.runs[w.key].state == "running"]

    def _evict(self, head: Run, victims: list[str], evict: Evict) -> None:
        for key in victims:
            victim = self.runs[key]
            assert victim.quota is not None
            self.book.drop(victim.quota)
            victim.quota = replace(victim.quota, flavors=None)  # keeps its age
            victim.state, victim.preemptor = "terminating", head.wl.key
            victim.generation += 1
            evict(victim)
            self.count += 1
        assert head.quota is not None
        assignment = assign_flavors(self.book.ledger, head.quota)
        if isinstance(assignment, Assignment):
            head.quota = replace(head.quota, flavors=assignment.flavors)
            head.flavors = assignment.flavors
            self.book.hold(head.quota)
            head.state, head.blockers = "reserved", len(victims)
            self.backlog.remove(head)
