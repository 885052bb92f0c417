"""The PipelineRun controller: walks each run's graph and runs its steps on the local node.

Level-triggered and idempotent: each `reconcile(key)` loads the run, decides from its status
(plus exits the runtime reported), writes the new status once with optimistic concurrency, and
only then launches workloads. Running it twice changes nothing; after a crash it resumes from
the stored status (finished steps are never re-run).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlkube.api.clock import Clock
from mlkube.api.errors import NotFound
from mlkube.api.kinds import CLUSTER_QUEUE, PIPELINE_RUN
from mlkube.api.pipelinerun import (
    FINISHED_RUN_PHASES,
    PipelineRun,
    StartEstimate,
    StepStatus,
    StepUsage,
)
from mlkube.controllers.finalizers import add_finalizer, remove_finalizer
from mlkube.controllers.pipelinerun.accounting import attempt_record
from mlkube.controllers.pipelinerun.estimates import expected_duration, start_estimate
from mlkube.controllers.pipelinerun.exchange import FolderExchange, StepExchange
from mlkube.controllers.pipelinerun.fair_usage import DEFAULT_HALF_LIFE_SECONDS, FairUsageBook
from mlkube.controllers.pipelinerun.launch import run_key_of, run_of, step_key_of
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig, load_queues
from mlkube.controllers.pipelinerun.run_pass import RunPass
from mlkube.controllers.pipelinerun.volumes import LocalRunVolumes, RunVolumes
from mlkube.runtime.base import GpuDevice, NodeInfo, Runtime, WorkloadExit
from mlkube.scheduling.node_fit import GpuSlot, NodeCapacity
from mlkube.storage.cache import StepCache
from mlkube.storage.layout import DataDir
from mlkube.store.accounting import AccountingLog
from mlkube.store.base import ResourceStore

FINALIZER = "mlkube.io/pipelinerun"
RESOURCE = PIPELINE_RUN.resource
Enqueue = Callable[[str, float], None]


def node_capacity(info: NodeInfo) -> NodeCapacity:
    """The scheduler's view of what a runtime's node has."""
    gpus = tuple(GpuSlot(g.index, g.vendor, g.model, g.memory_bytes) for g in info.gpus)
    return NodeCapacity(info.name, info.cpus, info.memory_bytes, gpus)


class PipelineRunController:
    def __init__(
        self,
        store: ResourceStore,
        runtime: Runtime,
        *,
        data: DataDir,
        clock: Clock,
        enqueue: Enqueue,
        stop_grace_seconds: float = 5.0,
        usage_half_life: float = DEFAULT_HALF_LIFE_SECONDS,
        accounting: AccountingLog | None = None,
        exchange: StepExchange | None = None,
        volumes: RunVolumes | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.data = data
        self.clock = clock
        self.enqueue = enqueue
        self.stop_grace_seconds = stop_grace_seconds
        self.accounting = accounting  # None: attempts are not recorded (tests, tools)
        self.exchange = exchange or FolderExchange(data, str(data.artifacts))
        self.volumes = volumes or LocalRunVolumes(store, data)
        # For start estimates: expected end of each running workload id, expected duration of
        # each waiting step key, and earlier successful durations per (ns, pipeline, step).
        self.ends: dict[str, float | None] = {}
        self.durations: dict[str, float | None] = {}
        self._earlier: dict[tuple[str, str, str], list[float]] = {}
        self.cache = StepCache(data.cache)
        info = runtime.node()  # may probe devices: ask once (cluster mode: `refresh_node`)
        self.node = node_capacity(info)
        self.gpus: dict[int, GpuDevice] = {g.index: g for g in info.gpus}
        # Fair sharing weighs each queue's usage history, kept in the ClusterQueues' status.
        queues = store.list(CLUSTER_QUEUE.resource)[0]
        self.queue = NodeQueue(
            self.node, fair_usage=FairUsageBook.from_statuses(usage_half_life, queues)
        )
        # Resource versions this controller wrote: their watch events carry nothing new, so
        # the manager drops them instead of reconciling the run a second time.
        self.own_writes: set[int] = set()
        self._queue_config: QueueConfig | None = None
        self._exits: dict[str, WorkloadExit] = {}
        self._exits_lock = threading.Lock()
        runtime.set_exit_handler(self.on_exit)

    # -- events -------------------------------------------------------------------------------

    def on_exit(self, exit_: WorkloadExit) -> None:
        """Runtime thread: remember the exit and wake the run's reconcile."""
        with self._exits_lock:
            self._exits[exit_.id] = exit_
        self.enqueue(run_key_of(exit_.id), 0.0)

    def queue_config(self) -> QueueConfig:
        """The ClusterQueues in force, read once and kept until `queues_changed`."""
        if self._queue_config is None:
            self._queue_config = load_queues(self.store)
        return self._queue_config

    def queues_changed(self) -> None:
        """A ClusterQueue or ResourceFlavor changed: reread them, and give every run with a
        waiting step a scheduling pass under the new quotas."""
        self._queue_config = None
        for run_key in {run_of(k) for k in self.queue.waiting}:
            self.enqueue(run_key, 0.0)

    def refresh_node(self) -> bool:
        """Ask the runtime for its node again (cluster mode: Nodes come and go). A changed
        capacity goes to the queue (`NodeQueue.resize`: running work stays) and every run with
        a waiting step gets a scheduling pass; returns whether it changed."""
        info = self.runtime.node()
        capacity = node_capacity(info)
        if capacity == self.node:
            return False
        self.node = capacity
        # Reserved grants may still name devices of the old numbering until they launch.
        self.gpus = {**self.gpus, **{g.index: g for g in info.gpus}}
        self.queue.resize(capacity)
        for run_key in {run_of(k) for k in self.queue.waiting}:
            self.enqueue(run_key, 0.0)
        return True

    def carry_out_preemptions(self) -> None:
        """Stop what the last scheduling pass chose to preempt; SIGTERM first, so a step can
        checkpoint within the grace period. Its exit requeues it (see the run pass)."""
        while self.queue.to_preempt:
            workload_id = self.queue.to_preempt.pop()
            self.runtime.stop(workload_id, grace_seconds=self.stop_grace_seconds)

    def restore_exit(self, exit_: WorkloadExit) -> None:
        """Put back an exit whose processing could not be recorded (a write conflict)."""
        with self._exits_lock:
            self._exits.setdefault(exit_.id, exit_)

    def pop_exit(self, workload_id: str) -> WorkloadExit | None:
        with self._exits_lock:
            return self._exits.pop(workload_id, None)

    # -- reconcile ----------------------------------------------------------------------------

    def reconcile(self, key: str) -> float | None:
        """Bring the run named `ns/name` one step closer to done; returns a requeue delay."""
        namespace, name = key.split("/", 1)
        try:
            obj = self.store.get(RESOURCE, namespace, name)
        except NotFound:
            self._abandon(key)
            return None
        run = PipelineRun.model_validate(obj)
        if run.metadata.deletion_timestamp:
            return self._finalize(key, obj)
        if run.status.phase in FINISHED_RUN_PHASES:
            self.queue.drop_run(key)
            self.volumes.release(run)  # again after a restart: it is idempotent
            return None
        if FINALIZER not in run.metadata.finalizers:
            obj = add_finalizer(self.store, RESOURCE, obj, FINALIZER)
            run = PipelineRun.model_validate(obj)
        return RunPass(self, run, obj).execute()

    def _finalize(self, key: str, obj: dict[str, Any]) -> float | None:
        """Deleting: stop every workload of the run, then let the store remove it."""
        self.queue.drop_run(key)
        running = self.queue.running_of(key)
        for workload_id in running:
            exit_ = self.pop_exit(workload_id)
            if exit_ is not None:
                self._record_stopped(obj, workload_id, exit_.finished_at)
                self.release(workload_id)
            else:
                self.runtime.stop(workload_id, grace_seconds=self.stop_grace_seconds)
        if self.queue.running_of(key):
            return 0.5
        self.volumes.release(PipelineRun.model_validate(obj))
        if not remove_finalizer(self.store, RESOURCE, obj, FINALIZER):
            return 0.0
        namespace, name = key.split("/", 1)
        shutil.rmtree(self.data.run_dir(namespace, name), ignore_errors=True)
        return None

    def _abandon(self, key: str) -> None:
        """The run is gone without finalizing (e.g. removed by hand): stop what it left."""
        self.queue.drop_run(key)
        for workload_id in self.queue.running_of(key):
            self.runtime.stop(workload_id, grace_seconds=0)
            self.release(workload_id)

    def release(self, workload_id: str) -> None:
        """A workload ended: free what it held, forget it in the runtime, and give what waits a
        scheduling pass over the freed room (a no-op for one already released)."""
        self.ends.pop(workload_id, None)
        if self.queue.release(workload_id):
            self.runtime.forget(workload_id)
            for key in [k for k in self.durations if k not in self.queue.waiting]:
                del self.durations[key]
            for run_key in self.queue.schedule(
                self.queue_config(), now=self.clock.now().timestamp()
            ):
                self.enqueue(run_key, 0.0)
            self.carry_out_preemptions()

    def record_attempt(self, run: PipelineRun, st: StepStatus, *, end: float, outcome: str) -> None:
        """Append the ended attempt's usage record (a no-op without an accounting log)."""
        if self.accounting is not None:
            record = attempt_record(run, st, end=end, outcome=outcome)
            if record is not None:
                self.accounting.append(record)
                self._earlier.pop((record.namespace, record.pipeline, record.step), None)

    def expected_duration(
        self, namespace: str, pipeline: str, step: str, timeout: float | None
    ) -> float | None:
        """How long this step should run (see `estimates.expected_duration`)."""
        key = (namespace, pipeline, step)
        if key not in self._earlier:
            found = self.accounting.durations(*key, limit=5) if self.accounting else []
            self._earlier[key] = found
        return expected_duration(self._earlier[key], timeout)

    def start_estimate(self, step_key: str, now: float) -> StartEstimate | None:
        """When a waiting step may start, for its status (None: not waiting here)."""
        estimate = start_estimate(
            self.queue,
            self.queue_config(),
            step_key,
            ends=self.ends,
            durations=self.durations,
            now=now,
        )
        if estimate is None:
            return None
        moment = datetime.fromtimestamp(estimate.at, UTC) if estimate.at is not None else None
        return StartEstimate(time=moment, after=estimate.after, reason=estimate.reason)

    def _record_stopped(self, obj: dict[str, Any], workload_id: str, end: float) -> None:
        """A step of a run being deleted was stopped: charge what it ran, from its status."""
        run = PipelineRun.model_validate(obj)
        step = step_key_of(workload_id).rsplit("/", 1)[1]
        st = run.status.step(step)
        if st is not None and st.phase == "Running":
            st.usage = self.usage_of(workload_id) or st.usage
            self.record_attempt(run, st, end=end, outcome="Stopped")

    def usage_of(self, workload_id: str) -> StepUsage | None:
        usage = self.runtime.usage(workload_id)
        if usage is None:
            return None
        return StepUsage(
            cpu_cores_avg=round(usage.avg_cpu_cores, 3),
            cpu_cores_max=round(usage.max_cpu_cores, 3),
            memory_bytes_max=usage.max_memory_bytes,
            samples=usage.samples,
        )
