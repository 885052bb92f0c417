"""The TrainingJob controller: gang admission, start, failure policy and deletion of jobs.

Level-triggered: each `reconcile("ns/name")` loads the job and runs one `JobPass`. It shares
the node queue, the runtime and the exit table with the PipelineRun controller, as
InferenceService replicas do, so a job's workers are admitted by the same quota and fit the
same node as steps; the manager runs all of them on one worker thread, so nothing here needs a
lock. The job's workers are queued under one gang id and admitted all together or not at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlkube.api.errors import NotFound
from mlkube.api.kinds import PRIORITY_CLASS, TRAINING_JOB
from mlkube.api.pipelinerun import StartEstimate
from mlkube.api.queueing import PriorityClass
from mlkube.api.trainingjob import FINISHED_JOB_PHASES, TrainingJob, WorkerStatus
from mlkube.controllers.finalizers import add_finalizer, remove_finalizer
from mlkube.controllers.pipelinerun.accounting import job_id, worker_record, worker_step
from mlkube.controllers.pipelinerun.controller import PipelineRunController
from mlkube.controllers.pipelinerun.estimates import expected_duration
from mlkube.controllers.trainingjob.estimate import gang_start_estimate
from mlkube.controllers.trainingjob.job_pass import JobPass
from mlkube.controllers.trainingjob.workers import gang_id, job_dir
from mlkube.store.base import ResourceStore

__all__ = ["FINALIZER", "TrainingJobController"]

FINALIZER = "mlkube.io/trainingjob"
RESOURCE = TRAINING_JOB.resource
_POLL_STOPPING = 0.5
# A worker's phase once it ended → the outcome its usage record carries.
_OUTCOMES = {
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Preempted": "Preempted",
    "Stopped": "Stopped",
}


class TrainingJobController:
    def __init__(
        self,
        store: ResourceStore,
        runs: PipelineRunController,
        *,
        enqueue: Callable[[str, float], None],
    ) -> None:
        self.store, self.runs, self.enqueue = store, runs, enqueue
        # Resource versions this controller wrote: the manager skips their watch events.
        self.own_writes: set[int] = set()
        self.pids: dict[str, int] = {}  # workload id → pid, until its exit is recorded
        self.stopping: set[str] = set()  # workload ids this controller asked to stop

    def reconcile(self, key: str) -> float | None:
        """Bring the job `ns/name` one step closer to done; returns a requeue delay."""
        namespace, name = key.split("/", 1)
        try:
            obj = self.store.get(RESOURCE, namespace, name)
        except NotFound:
            self._abandon(gang_id(namespace, name))
            return None
        job = TrainingJob.model_validate(obj)
        if job.metadata.deletion_timestamp:
            return self._finalize(namespace, name, obj)
        if job.status.phase in FINISHED_JOB_PHASES:
            self.runs.queue.drop_run(gang_id(namespace, name))
            return None
        if FINALIZER not in job.metadata.finalizers:
            obj = add_finalizer(self.store, RESOURCE, obj, FINALIZER)
            job = TrainingJob.model_validate(obj)
        return JobPass(self, job, obj).execute()

    def priority_of(self, job: TrainingJob) -> int | None:
        """The job's priority: its class's value, else the global default's, else 0; None
        when the class it names does not exist."""
        classes = [
            PriorityClass.model_validate(o) for o in self.store.list(PRIORITY_CLASS.resource)[0]
        ]
        wanted = job.spec.priority_class_name
        if wanted is not None:
            return next((c.value for c in classes if c.metadata.name == wanted), None)
        return next((c.value for c in classes if c.global_default), 0)

    def expected_duration(self, job: TrainingJob) -> float | None:
        """How long a start of the gang should run: the median of the job's earlier successful
        starts (by name, from the accounting log), else its activeDeadlineSeconds (an upper
        bound), else unknown."""
        meta = job.metadata
        earlier = (
            self.runs.accounting.durations(
                meta.namespace or "", job_id(job), worker_step(0), limit=5
            )
            if self.runs.accounting is not None
            else []
        )
        return expected_duration(earlier, job.spec.run_policy.active_deadline_seconds)

    def start_estimate(
        self, job: TrainingJob, keys: list[str], now: datetime
    ) -> StartEstimate | None:
        """When the waiting gang whose worker keys are `keys` may start (None: not waiting)."""
        expected = self.expected_duration(job)
        estimate = gang_start_estimate(
            self.runs.queue,
            self.runs.queue_config(),
            keys,
            ends=self.runs.ends,
            durations={**self.runs.durations, **dict.fromkeys(keys, expected)},
            now=now.timestamp(),
        )
        if estimate is None:
            return None
        moment = datetime.fromtimestamp(estimate.at, UTC) if estimate.at is not None else None
        return StartEstimate(time=moment, after=estimate.after, reason=estimate.reason)

    def record_worker(self, job: TrainingJob, worker: WorkerStatus, *, end: float) -> None:
        """Append the usage record of a worker that ended at `end`, its outcome read from its
        phase (a no-op without an accounting log, or for a worker that never started)."""
        if self.runs.accounting is None:
            return
        outcome = _OUTCOMES.get(worker.phase, "Failed")
        record = worker_record(job, worker, start=job.status.starts, end=end, outcome=outcome)
        if record is not None:
            self.runs.accounting.append(record)

    def _finalize(self, namespace: str, name: str, obj: dict[str, Any]) -> float | None:
        """Deleting: stop every worker (SIGTERM, then SIGKILL after the grace period), charge
        what they ran, wait for their exits, then let the store remove the job."""
        job = TrainingJob.model_validate(obj)
        if self._stop_workers(gang_id(namespace, name), self.runs.stop_grace_seconds, job):
            return _POLL_STOPPING
        if not remove_finalizer(self.store, RESOURCE, obj, FINALIZER):
            return 0.0
        shutil.rmtree(job_dir(self.runs.data, namespace, name), ignore_errors=True)
        return None

    def _abandon(self, gang: str) -> None:
        """The job is gone without finalizing (removed by hand): stop what it left."""
        self._stop_workers(gang, 0.0)

    def _stop_workers(self, gang: str, grace: float, job: TrainingJob | None = None) -> bool:
        """Stop the gang's workers and free what exited, charging each to `job` when given;
        True while some still run."""
        self.runs.queue.drop_run(gang)
        for wid in self.runs.queue.running_of(gang):
            if (exit_ := self.runs.pop_exit(wid)) is not None:
                if job is not None:
                    self._record_stopped(job, wid, exit_.finished_at)
                self.pids.pop(wid, None)
                self.stopping.discard(wid)
                self.runs.release(wid)
            elif wid not in self.stopping:
                self.stopping.add(wid)
                self.runs.runtime.stop(wid, grace_seconds=grace)
        return bool(self.runs.queue.running_of(gang))

    def _record_stopped(self, job: TrainingJob, wid: str, end: float) -> None:
        """A worker of a job being deleted was stopped: charge what it ran, from its status."""
        worker = next((w for w in job.status.workers if w.workload_id == wid), None)
        if worker is not None and worker.phase == "Running":
            stopped = worker.model_copy(update={"phase": "Stopped"})
            stopped.usage = self.runs.usage_of(wid) or worker.usage
            self.record_worker(job, stopped, end=end)
