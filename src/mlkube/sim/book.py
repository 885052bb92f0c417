"""The quota held by simulated workloads: one `Ledger` kept across passes, plus what the engine
needs to decide only where something changed.

Usage matters within a *scope*: a queue's cohort, or the queue itself outside any. Each scope
has a version that moves whenever its usage changes; `touched` collects the scopes changed
since the engine last looked, and `freed` those whose usage went down (so that work which
did not fit before may fit now).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlkube.scheduling.quota import Ledger, QueueQuota
from mlkube.scheduling.quota import Workload as QuotaWorkload

__all__ = ["QuotaBook"]


class QuotaBook:
    def __init__(self, quotas: Mapping[str, QueueQuota]) -> None:
        self.quotas = quotas
        self.ledger = Ledger(quotas, [])
        # Per scope, the workloads holding quota (reserved and running), in the order they
        # took it: preemption breaks ties between equal victims by that order.
        self.holding: dict[str, dict[str, QuotaWorkload]] = {}
        self.version: dict[str, int] = {}
        self.touched: set[str] = set()
        self.freed: set[str] = set()

    def scope(self, queue: str) -> str:
        """Where a queue's usage matters: its cohort, or itself outside any."""
        return self.quotas[queue].cohort or queue

    def scope_version(self, queue: str) -> int:
        return self.version.get(self.scope(queue), 0)

    def hold(self, wl: QuotaWorkload, *, counted: bool = False) -> None:
        """`wl` (with its flavors) now holds quota; `counted`: the ledger has it already
        (admission adds what it admits)."""
        if not counted:
            self.ledger.add(wl.queue, wl.usage())
        self.holding.setdefault(self.scope(wl.queue), {})[wl.key] = wl
        self._touch(wl.queue)

    def drop(
        self, wl: QuotaWorkload, flavors: tuple[str, ...] | None = None, *, frees: bool = True
    ) -> None:
        """Return the quota `wl` holds with `flavors` (default: its own). `frees=False`: the
        caller looks at that scope's backlog again itself, so it is not reported as freed."""
        self.ledger.add(wl.queue, wl.usage(flavors), -1)
        self.holding.get(self.scope(wl.queue), {}).pop(wl.key, None)
        self._touch(wl.queue)
        if frees:
            self.freed.add(self.scope(wl.queue))

    def holders(self, scope: str) -> list[QuotaWorkload]:
        return list(self.holding.get(scope, {}).values())

    def take_changes(self) -> tuple[set[str], set[str]]:
        """Scopes touched and scopes freed since the last call."""
        touched, freed = self.touched, self.freed
        self.touched, self.freed = set(), set()
        return touched, freed

    def _touch(self, queue: str) -> None:
        scope = self.scope(queue)
        self.version[scope] = self.version.get(scope, 0) + 1
        self.touched.add(scope)
