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
from mlkube.controllers.pipelinerun.fair_usage import FairUsageBook
from mlkube.controllers.pipelinerun.launch import run_of, step_key_of
from mlkube.controllers.pipelinerun.quota_gate import (
    QueueConfig,
    admitted_request,
    step_workload,
)
from mlkube.scheduling.admission import Snapshot
from mlkube.scheduling.admission import admit as admit_by_quota
from mlkube.scheduling.node_fit import Grant, NodeCapacity
from mlkube.scheduling.node_resize import refit_grants
from mlkube.scheduling.preemption import preemption_targets
from mlkube.scheduling.queue import QueuedWork, admit
from mlkube.scheduling.quota import Workload


@dataclass(frozen=True)
class WorkInfo:
    """What quota admission needs to know about a step."""

    priority: int
    created: float
    request: ResourceRequest
    gang: str | None = None  # the job whose workers are admitted together (one workload)


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
    fair_usage: FairUsageBook | None = None  # queues' usage history; None: none is kept

    def enqueue(
        self,
        step_key: str,
        order: tuple[str, ...],
        request: ResourceRequest,
        *,
        priority: int = 0,
        created: float = 0.0,
        gang: str | None = None,
    ) -> None:
        """Queue a ready step (idempotent: keeps its original place in line). Steps queued
        with the same `gang` id are admitted all together or not at all, by quota (as one
        workload) and on the node."""
        if step_key not in self.waiting and step_key not in self.reserved:
            self.waiting[step_key] = QueuedWork(step_key, order, request, gang)
            self.info[step_key] = WorkInfo(priority, created, request, gang)
            self.version += 1

    def schedule(self, config: QueueConfig | None = None, *, now: float = 0.0) -> set[str]:
        """Admit what quota and the node allow; returns the runs that have news."""
        if self.fair_usage is not None and config is not None and config.active:
            self.fair_usage.sync(held_workloads(self, config), now=now)
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
                    for workload_id in self._workload_ids(victim):
                        self.to_preempt.append(workload_id)
                        self.preempting[workload_id] = workload.key
                return

    def _workload_ids(self, key: str) -> list[str]:
        """A quota workload's running workload ids: itself, or every worker of a gang."""
        if key in self.running:
            return [key]
        return [w for w in self.running if self.gang_of(step_key_of(w)) == key]

    def gang_of(self, step_key: str) -> str | None:
        info = self.info.get(step_key)
        return info.gang if info is not None else None

    def being_preempted(self, key: str) -> bool:
        """The quota workload (a workload id or a gang id) is already being stopped."""
        return any(w in self.preempting for w in self._workload_ids(key))

    def resize(self, node: NodeCapacity) -> None:
        """The node's capacity changed (cluster mode: Nodes came or went). What is running or
        reserved keeps its grant, renumbered onto the new capacity (`refit_grants`), even if it
        no longer fits; the next `schedule` admits only what the new capacity has free."""
        held = refit_grants([*self.running.items(), *self.reserved.items()], self.node, node)
        self.running = {key: held[key] for key in self.running}
        self.reserved = {key: held[key] for key in self.reserved}
        self.node = node
        self.version += 1

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

    The workers of a gang count as one workload, keyed by the gang id, of as many pods as
    they hold. Also read from the API server's threads (admission checks): the tables are
    copied first."""
    keys = [(wid, step_key_of(wid)) for wid in list(queue.running)]
    keys += [(step_key, step_key) for step_key in list(queue.reserved)]
    workloads: list[Workload] = []
    pods: dict[str, int] = {}
    first: dict[str, Workload] = {}
    for key, step_key in keys:
        workload = _held_workload(queue, config, key, step_key)
        if workload is None:
            continue
        gang = queue.gang_of(step_key)
        if gang is None:
            workloads.append(workload)
        else:
            pods[gang] = pods.get(gang, 0) + 1
            first.setdefault(gang, workload)
    return workloads + [_as_gang(w, gang, pods[gang]) for gang, w in first.items()]


def _held_workload(
    queue: NodeQueue, config: QueueConfig, key: str, step_key: str
) -> Workload | None:
    """One running or reserved step as a workload, in its admitted flavor."""
    flavor = queue.flavors.get(step_key)
    if flavor is None:
        fresh = queued_workload(queue, config, key, step_key)
        if fresh is None:
            return None
        flavor = fresh.pod_sets[0].options[0].flavor
    return queued_workload(queue, config, key, step_key, flavor)


def _as_gang(workload: Workload, gang: str, count: int) -> Workload:
    """A one-pod workload of a gang's worker, made the whole gang's: `count` such pods."""
    pod_set = workload.pod_sets[0]
    return dataclasses.replace(
        workload, key=gang, pod_sets=(dataclasses.replace(pod_set, name="workers", count=count),)
    )


def queued_workload(
    queue: NodeQueue, config: QueueConfig, key: str, step_key: str, flavor: str | None = None
) -> Workload | None:
    """A step the queue knows as its ClusterQueue's workload, keyed `key`, sized on the node as
    admission sizes it (None: no queue names its namespace, or no flavor can hold it)."""
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
        node=queue.node,
    )


def _no_flavor(queue_name: str, request: ResourceRequest) -> str:
    models = [c.model for c in request.gpu_choices() if c.model]
    wanted = f" of model {' or '.join(repr(m) for m in models)}" if models else ""
    return f"ClusterQueue {queue_name} has no flavor that covers this step's requests{wanted}"


class _QuotaPass:
    """Quota admission for one scheduling pass."""

    def __init__(self, queue: NodeQueue, config: QueueConfig, now: float) -> None:
        self.config = config
        self.node = queue.node
        self.never: dict[str, str] = {}
        held = [w for w in held_workloads(queue, config) if not queue.being_preempted(w.key)]
        self.pending: list[Workload] = []
        # A gang waits as one workload of all its workers, keyed by the gang id.
        self.members: dict[str, list[str]] = {}
        for key in queue.waiting:
            gang = queue.gang_of(key)
            if gang is not None:
                self.members.setdefault(gang, []).append(key)
                if len(self.members[gang]) > 1:
                    continue
            workload = queued_workload(queue, config, key, key)
            if workload is not None:
                self.pending.append(workload)
            elif (name := config.queue_for(key)) is not None:
                self.never[gang or key] = _no_flavor(name, queue.info[key].request)
        self.pending = [
            _as_gang(w, g, len(self.members[g])) if (g := queue.gang_of(w.key)) else w
            for w in self.pending
        ]
        history = queue.fair_usage.shares(config.quotas, now=now) if queue.fair_usage else {}
        self.snapshot = Snapshot(config.quotas, tuple(held), tuple(self.pending), history=history)
        decision = admit_by_quota(self.snapshot, now=now)
        self.admitted = {a.key: a.flavors[0] for a in decision.admitted}  # step key → flavor
        self.reasons = {k: "quota: " + r.message() for k, r in decision.pending.items()}
        self.pending = [w for w in self.pending if w.key in decision.pending]
        for table in (self.admitted, self.reasons, self.never):
            self._expand_gangs(table)

    def _expand_gangs(self, table: dict[str, str]) -> None:
        """What was decided for a gang holds for each of its workers."""
        for gang, keys in self.members.items():
            if gang in table:
                value = table.pop(gang)
                table.update(dict.fromkeys(keys, value))

    def filter(self, candidates: list[QueuedWork]) -> list[QueuedWork]:
        """Steps quota admitted (narrowed to the GPU choice of their flavor, of its model) and
        steps without a queue."""
        kept = []
        for work in candidates:
            name = self.config.queue_for(work.key)
            if name is None:
                kept.append(work)
                continue
            flavor = self.admitted.get(work.key)
            if flavor is None:
                continue
            request = admitted_request(self.config, name, work.request, flavor, node=self.node)
            kept.append(dataclasses.replace(work, request=request))
        return kept
