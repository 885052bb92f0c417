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
    to_preempt: list[str] = field(default_factory=list)  # workload ids still to be stopped
    preempting: dict[str, str] = field(default_factory=dict)  # workload id → preemptor step key
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
                    self.to_preempt.append(victim)
                    self.preempting[victim] = workload.key
                return

    def take_reserved(self, step_key: str) -> Grant | None:
        grant = self.reserved.pop(step_key, None)
        if grant is not None:
            self.version += 1
        return grant

    def take_never(self, step_key: str) -> str | None:
        """Why the step can never run here, once; the step is forgotten with it."""
        reason = self.never.get(step_key)
        if reason is not None:
            self._forget(step_key)
        return reason

    def start(self, workload_id: str, grant: Grant) -> None:
        self.running[workload_id] = grant
        self.version += 1

    def release(self, workload_id: str) -> bool:
        """Free what a finished workload held; True if it held anything."""
        self.preempting.pop(workload_id, None)
        if self.running.pop(workload_id, None) is None:
            return False
        self.version += 1
        key = step_key_of(workload_id)
        self.flavors.pop(key, None)
        self.info.pop(key, None)
        return True

    def drop(self, step_key: str) -> None:
        """Forget one queued or reserved workload (a replica no longer wanted)."""
        self._forget(step_key)

    def drop_run(self, run_key: str) -> None:
        """Forget queued and reserved steps of a run (deleted or finished)."""
        keys = [*self.waiting, *self.reserved, *self.never]
        for key in [k for k in keys if run_of(k) == run_key]:
            self._forget(key)

    def _forget(self, step_key: str) -> None:
        """Remove a step that holds nothing running from every table keyed by step."""
        for table in (self.waiting, self.reserved, self.never):
            if table.pop(step_key, None) is not None:
                self.version += 1
        for extra in (self.info, self.flavors, self.wait_reasons):
            extra.pop(step_key, None)

    def running_of(self, run_key: str) -> list[str]:
        prefix = run_key + "/"
        return [w for w in self.running if w.startswith(prefix)]


def held_workloads(queue: NodeQueue, config: QueueConfig) -> list[Workload]:
    """What each running or reserved step holds against its namespace's ClusterQueue, keyed by
    workload id while running and by step key while reserved. One admitted before its namespace
    had a queue is counted in its first possible flavor, so a new quota sees real usage.

    Also read from the API server's threads (admission checks): the tables are copied first."""
    keys = [(wid, step_key_of(wid)) for wid in list(queue.running)]
    keys += [(step_key, step_key) for step_key in list(queue.reserved)]
    held = []
    for key, step_key in keys:
        flavor = queue.flavors.get(step_key)
        if flavor is None:
            fresh = _workload(queue, config, key, step_key)
            if fresh is None:
                continue
            flavor = fresh.pod_sets[0].options[0].flavor
        workload = _workload(queue, config, key, step_key, flavor)
        if workload is not None:
            held.append(workload)
    return held


def _workload(
    queue: NodeQueue, config: QueueConfig, key: str, step_key: str, flavor: str | None = None
) -> Workload | None:
    name = config.queue_for(step_key)
    info = queue.info.get(step_key)
    if name is None or info is None:
        return None
    return step_workload(
        key,
        name,
        priority=info.priority,
        created=info.created,
        request=info.request,
        config=config,
        flavor=flavor,
    )


def _no_flavor(queue_name: str, request: ResourceRequest) -> str:
    model = f" of model {request.gpu_model!r}" if request.gpu_model else ""
    return f"ClusterQueue {queue_name} has no flavor that covers this step's requests{model}"


class _QuotaPass:
    """Quota admission for one scheduling pass."""

    def __init__(self, queue: NodeQueue, config: QueueConfig, now: float) -> None:
        self.config = config
        self.never: dict[str, str] = {}
        held = [w for w in held_workloads(queue, config) if w.key not in queue.preempting]
        self.pending: list[Workload] = []
        for key in queue.waiting:
            workload = _workload(queue, config, key, key)
            if workload is not None:
                self.pending.append(workload)
            elif (name := config.queue_for(key)) is not None:
                self.never[key] = _no_flavor(name, queue.info[key].request)
        self.snapshot = Snapshot(config.quotas, tuple(held), tuple(self.pending))
        decision = admit_by_quota(self.snapshot, now=now)
        self.admitted = {a.key: a.flavors[0] for a in decision.admitted}  # step key → flavor
        self.reasons = {k: "quota: " + r.message() for k, r in decision.pending.items()}
        self.pending = [w for w in self.pending if w.key in decision.pending]

    def filter(self, candidates: list[QueuedWork]) -> list[QueuedWork]:
        """Steps quota admitted (GPU model taken from their flavor) and steps without a queue."""
        kept = []
        for work in candidates:
            if self.config.queue_for(work.key) is None:
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
