"""The controller's in-memory view of the local node: who waits, who holds what.

Everything here is rebuilt from the store after a restart (waiting steps are re-queued by their
runs' reconciles, running ones are re-run), so nothing is lost with the process. Only the
controller's worker thread touches it.

A scheduling pass has two gates. Steps of namespaces that a ClusterQueue names must first be
admitted by quota (`mlkube.scheduling.admission`, with borrowing and preemption); then every
admitted or unqueued step must fit the node (`mlkube.scheduling.queue`), in priority then
arrival order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mlkube.api.resources import ResourceRequest
from mlkube.controllers.pipelinerun.launch import run_of, step_key_of
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig, step_workload
from mlkube.scheduling.admission import Snapshot
from mlkube.scheduling.admission import admit as admit_by_quota
from mlkube.scheduling.node_fit import Grant, NodeCapacity
from mlkube.scheduling.preemption import preemption_targets
from mlkube.scheduling.queue import QueuedWork, admit
from mlkube.scheduling.quota import Workload


@dataclass(frozen=True)
class WorkInfo:
    """What quota admission needs to know about a step."""

    priority: int
    created: float
    request: ResourceRequest


@dataclass
class NodeQueue:
    node: NodeCapacity
    waiting: dict[str, QueuedWork] = field(default_factory=dict)
    reserved: dict[str, Grant] = field(default_factory=dict)
    running: dict[str, Grant] = field(default_factory=dict)  # by workload id
    info: dict[str, WorkInfo] = field(default_factory=dict)  # by step key
    flavors: dict[str, str] = field(default_factory=dict)  # step key → admitted flavor
    wait_reasons: dict[str, str] = field(default_factory=dict)
    never: dict[str, str] = field(default_factory=dict)
    to_preempt: dict[str, str] = field(default_factory=dict)  # workload id → preemptor step key
    preempting: set[str] = field(default_factory=set)  # workload ids being stopped
    version: int = 0  # goes up whenever what is held or waiting changes

    def enqueue(
        self,
        step_key: str,
        order: tuple[str, ...],
        request: ResourceRequest,
        *,
        priority: int = 0,
        created: float = 0.0,
    ) -> None:
        """Queue a ready step (idempotent: keeps its original place in line)."""
        if step_key not in self.waiting and step_key not in self.reserved:
            self.waiting[step_key] = QueuedWork(step_key, order, request)
            self.info[step_key] = WorkInfo(priority, created, request)
            self.version += 1

    def schedule(self, config: QueueConfig | None = None, *, now: float = 0.0) -> set[str]:
        """Admit what quota and the node allow; returns the runs that have news."""
        if not self.waiting:
            return set()
        gate = _QuotaPass(self, config, now) if config is not None and config.active else None
        candidates = list(self.waiting.values())
        if gate is not None:
            candidates = gate.filter(candidates)
        held = [*self.running.values(), *self.reserved.values()]
        result = admit(candidates, self.node, held)
        for key, grant in result.admitted.items():
            del self.waiting[key]
            self.reserved[key] = grant
            if gate is not None and key in gate.admitted:
                self.flavors[key] = gate.admitted[key]
            self.version += 1
        nevers = {**result.never, **(gate.never if gate else {})}
        for key, reason in nevers.items():
            self.waiting.pop(key, None)
            self.never[key] = reason
        self.wait_reasons = {**(gate.reasons if gate else {}), **result.waiting}
        if gate is not None:
            self._preempt(gate)
        return {run_of(k) for k in [*result.admitted, *nevers]}

    def _preempt(self, gate: _QuotaPass) -> None:
        """Choose victims for the highest-priority workload that quota holds back, if any."""
        for workload in sorted(gate.pending, key=lambda w: (-w.priority, w.created)):
            targets = preemption_targets(gate.snapshot, workload)
            if targets:
                for victim in targets:
                    self.to_preempt[victim] = workload.key
                    self.preempting.add(victim)
                return

    def take_reserved(self, step_key: str) -> Grant | None:
        grant = self.reserved.pop(step_key, None)
        if grant is not None:
            self.version += 1
        return grant

    def take_never(self, step_key: str) -> str | None:
        return self.never.pop(step_key, None)

    def start(self, workload_id: str, grant: Grant) -> None:
        self.running[workload_id] = grant
        self.version += 1

    def release(self, workload_id: str) -> bool:
        """Free what a finished workload held; True if it held anything."""
        self.preempting.discard(workload_id)
        if self.running.pop(workload_id, None) is None:
            return False
        self.version += 1
        key = step_key_of(workload_id)
        self.flavors.pop(key, None)
        self.info.pop(key, None)
        return True

    def drop(self, step_key: str) -> None:
        """Forget one queued or reserved workload (a replica no longer wanted)."""
        for table in (self.waiting, self.reserved, self.never):
            if table.pop(step_key, None) is not None:
                self.version += 1
        self.info.pop(step_key, None)

    def drop_run(self, run_key: str) -> None:
        """Forget queued and reserved steps of a run (deleted or finished)."""
        for table in (self.waiting, self.reserved, self.never):
            for key in [k for k in table if run_of(k) == run_key]:
                del table[key]
                self.version += 1

    def running_of(self, run_key: str) -> list[str]:
        prefix = run_key + "/"
        return [w for w in self.running if w.startswith(prefix)]


class _QuotaPass:
    """Quota admission for one scheduling pass."""

    def __init__(self, queue: NodeQueue, config: QueueConfig, now: float) -> None:
        self.config = config
        self.admitted: dict[str, str] = {}  # step key → flavor
        self.reasons: dict[str, str] = {}
        self.never: dict[str, str] = {}
        held = [w for w in self._held(queue) if w is not None]
        self.pending: list[Workload] = []
        for key in queue.waiting:
            workload = self._workload(queue, key, key)
            if workload is not None:
                self.pending.append(workload)
            elif self._queue(key) is not None:
                self.never[key] = self._no_flavor(queue, key)
        self.snapshot = Snapshot(config.quotas, tuple(held), tuple(self.pending))
        decision = admit_by_quota(self.snapshot, now=now)
        self.admitted = {a.key: a.flavors[0] for a in decision.admitted}
        self.reasons = {k: "quota: " + r.message() for k, r in decision.pending.items()}
        self.pending = [w for w in self.pending if w.key in decision.pending]

    def _queue(self, step_key: str) -> str | None:
        return self.config.queue_of.get(step_key.split("/", 1)[0])

    def _workload(
        self, queue: NodeQueue, key: str, step_key: str, flavor: str | None = None
    ) -> Workload | None:
        name = self._queue(step_key)
        info = queue.info.get(step_key)
        if name is None or info is None:
            return None
        return step_workload(
            key,
            name,
            priority=info.priority,
            created=info.created,
            request=info.request,
            config=self.config,
            flavor=flavor,
        )

    def _held(self, queue: NodeQueue) -> list[Workload | None]:
        held: list[Workload | None] = []
        for wid in queue.running:
            if wid not in queue.preempting:
                held.append(self._held_one(queue, wid, step_key_of(wid)))
        for step_key in queue.reserved:
            held.append(self._held_one(queue, step_key, step_key))
        return held

    def _held_one(self, queue: NodeQueue, key: str, step_key: str) -> Workload | None:
        """What a running or reserved step holds; one admitted before its namespace had a
        queue is counted in its first possible flavor, so a new quota sees real usage."""
        flavor = queue.flavors.get(step_key)
        if flavor is None:
            fresh = self._workload(queue, key, step_key)
            if fresh is None:
                return None
            flavor = fresh.pod_sets[0].options[0].flavor
        return self._workload(queue, key, step_key, flavor)

    def _no_flavor(self, queue: NodeQueue, key: str) -> str:
        request = queue.info[key].request
        model = f" of model {request.gpu_model!r}" if request.gpu_model else ""
        return (
            f"ClusterQueue {self._queue(key)} has no flavor that covers this step's requests{model}"
        )

    def filter(self, candidates: list[QueuedWork]) -> list[QueuedWork]:
        """Steps quota admitted (GPU model taken from their flavor) and steps without a queue."""
        kept = []
        for work in candidates:
            if self._queue(work.key) is None:
                kept.append(work)
                continue
            flavor = self.admitted.get(work.key)
            if flavor is None:
                continue
            model = self.config.flavor_model.get(flavor)
            if model and work.request.gpu_count and not work.request.gpu_model:
                work = dataclasses.replace(
                    work, request=dataclasses.replace(work.request, gpu_model=model)
                )
            kept.append(work)
        return kept
