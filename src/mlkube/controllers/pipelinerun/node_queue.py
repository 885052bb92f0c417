"""The controller's in-memory view of the local node: who waits, who holds what.

Everything here is rebuilt from the store after a restart (waiting steps are re-queued by their
runs' reconciles, running ones are re-run), so nothing is lost with the process. Only the
controller's worker thread touches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.node_fit import Grant, NodeCapacity
from mlkube.scheduling.queue import QueuedWork, admit


def run_of(step_key: str) -> str:
    """`ns/run/step` → `ns/run`."""
    return step_key.rsplit("/", 1)[0]


@dataclass
class NodeQueue:
    node: NodeCapacity
    waiting: dict[str, QueuedWork] = field(default_factory=dict)
    reserved: dict[str, Grant] = field(default_factory=dict)
    running: dict[str, Grant] = field(default_factory=dict)  # by workload id
    wait_reasons: dict[str, str] = field(default_factory=dict)
    never: dict[str, str] = field(default_factory=dict)
    version: int = 0  # goes up whenever what is held or waiting changes

    def enqueue(self, step_key: str, order: tuple[str, ...], request: ResourceRequest) -> None:
        """Queue a ready step (idempotent: keeps its original place in line)."""
        if step_key not in self.waiting and step_key not in self.reserved:
            self.waiting[step_key] = QueuedWork(step_key, order, request)
            self.version += 1

    def schedule(self) -> set[str]:
        """Admit what fits, oldest first; returns the runs that have news (admitted or never)."""
        if not self.waiting:
            return set()
        held = [*self.running.values(), *self.reserved.values()]
        result = admit(self.waiting.values(), self.node, held)
        for key, grant in result.admitted.items():
            del self.waiting[key]
            self.reserved[key] = grant
            self.version += 1
        for key, reason in result.never.items():
            del self.waiting[key]
            self.never[key] = reason
        self.wait_reasons = dict(result.waiting)
        return {run_of(k) for k in [*result.admitted, *result.never]}

    def take_reserved(self, step_key: str) -> Grant | None:
        self.version += 1
        return self.reserved.pop(step_key, None)

    def take_never(self, step_key: str) -> str | None:
        return self.never.pop(step_key, None)

    def start(self, workload_id: str, grant: Grant) -> None:
        self.running[workload_id] = grant
        self.version += 1

    def release(self, workload_id: str) -> bool:
        """Free what a finished workload held; True if it held anything."""
        self.version += 1
        return self.running.pop(workload_id, None) is not None

    def drop_run(self, run_key: str) -> None:
        """Forget queued and reserved steps of a run (deleted or finished)."""
        for table in (self.waiting, self.reserved, self.never):
            for key in [k for k in table if run_of(k) == run_key]:
                del table[key]
                self.version += 1

    def running_of(self, run_key: str) -> list[str]:
        prefix = run_key + "/"
        return [w for w in self.running if w.startswith(prefix)]
