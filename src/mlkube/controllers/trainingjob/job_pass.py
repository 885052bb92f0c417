"""One reconcile of one TrainingJob: load → decide → write → act.

Decisions are made on the job's parsed status; it is written once, with optimistic
concurrency, and only then are the admitted workers launched, so a crash between the two
leaves workers recorded as running that the next process finds lost, and the gang is queued
again (a platform restart takes the workers with it: they are restarted, never re-adopted).
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import TRAINING_JOB
from mlkube.api.meta import Condition, parse_time, set_condition
from mlkube.api.pipelinerun import Placement
from mlkube.api.trainingjob import TrainingJob, WorkerStatus
from mlkube.controllers.serving.replicas import log_tail
from mlkube.controllers.trainingjob.estimate import queue_position
from mlkube.controllers.trainingjob.outcome import gang_outcome
from mlkube.controllers.trainingjob.workers import (
    free_port,
    gang_id,
    job_dir,
    log_name,
    worker_key,
    worker_spec,
    workload_id,
)
from mlkube.runtime.base import WorkloadExit, WorkloadSpec
from mlkube.scheduling.node_fit import Grant

if TYPE_CHECKING:
    from mlkube.controllers.trainingjob.controller import TrainingJobController

RESOURCE = TRAINING_JOB.resource


class JobPass:
    """One reconcile of one job: load → decide → write → act."""

    def __init__(self, ctl: TrainingJobController, job: TrainingJob, obj: dict[str, Any]) -> None:
        self.ctl, self.runs = ctl, ctl.runs
        self.job, self.obj = job, obj
        meta = job.metadata
        self.namespace, self.name = meta.namespace or "", meta.name or ""
        self.gang = gang_id(self.namespace, self.name)
        self.status = job.status  # parsed for this pass alone: ours to change
        self.now = ctl.runs.clock.now()
        self.launches: list[tuple[WorkloadSpec, Grant]] = []
        self.taken: list[tuple[str, Grant]] = []  # reservations taken, to hand back
        self.consumed: list[WorkloadExit] = []
        self.wake: list[float] = []

    def execute(self) -> float | None:
        if self._resolve():
            self._collect_exits()
            self._progress()
            if self.status.phase == "Pending":
                self._queue_and_admit()
        if not self._write():
            for key, grant in self.taken:
                self.runs.queue.reserved[key] = grant
            for exit_ in self.consumed:
                self.runs.restore_exit(exit_)
            return 0.0
        self._launch()
        return min(self.wake) if self.wake else None

    # -- resolve priority and queue, once ----------------------------------------------------

    def _resolve(self) -> bool:
        status = self.status
        if status.priority is not None:
            return True
        priority = self.ctl.priority_of(self.job)
        if priority is None:
            wanted = self.job.spec.priority_class_name
            self._fail("PriorityClassNotFound", f'priority class "{wanted}" not found')
            return False
        status.priority = priority
        status.queue = self.runs.queue_config().queue_of.get(self.namespace)
        status.workers = [WorkerStatus(rank=r) for r in range(self.job.spec.workers)]
        self._condition("Admitted", "False", "Queued", "waiting for quota and room on the node")
        return True

    # -- watch the running gang ----------------------------------------------------------------

    def _collect_exits(self) -> None:
        for worker in self.status.workers:
            wid = worker.workload_id
            if worker.phase != "Running" or wid is None:
                continue
            exit_ = self.runs.pop_exit(wid)
            if exit_ is not None:
                self.consumed.append(exit_)
                self._exited(worker, wid, exit_)
            elif wid not in self.runs.queue.running:
                # Recorded as running, yet nothing runs: the platform restarted meanwhile.
                self._set(worker, "Stopped", "Restarted", "the platform restarted")
                worker.finish_time = self.now
            elif worker.pid is None:
                worker.pid = self.ctl.pids.get(wid)

    def _exited(self, worker: WorkerStatus, wid: str, exit_: WorkloadExit) -> None:
        worker.usage = self.runs.usage_of(wid) or worker.usage
        worker.exit_code = exit_.exit_code
        worker.finish_time = datetime.fromtimestamp(exit_.finished_at, self.now.tzinfo)
        preemptor = self.runs.queue.preempting.get(wid)  # forgotten on release
        stopped = wid in self.ctl.stopping
        self.ctl.stopping.discard(wid)
        worker.pid = self.ctl.pids.pop(wid, worker.pid)
        self.runs.release(wid)
        if preemptor is not None:
            self._set(worker, "Preempted", "Preempted", f"preempted for {preemptor}")
        elif stopped:
            self._set(worker, "Stopped", "Stopped", "stopped with the rest of the gang")
        elif exit_.reason == "Completed":
            self._set(worker, "Succeeded", "Completed", exit_.message)
        else:
            tail = log_tail(self._log(worker.rank))
            message = f"worker {worker.rank} {exit_.message}" + (f": {tail}" if tail else "")
            self._set(worker, "Failed", exit_.reason, message)
        # Before the status is written: a crash in between appends the same record again,
        # which the log keeps once.
        self.ctl.record_worker(self.job, worker, end=exit_.finished_at)

    def _progress(self) -> None:
        status = self.status
        if status.phase not in ("Admitted", "Running"):
            self._check_pending_deadline()
            return
        if status.phase == "Admitted" and all(
            w.pid is not None or w.phase != "Running" for w in status.workers
        ):
            status.phase = "Running"  # launched last pass: every worker has a process
            self._condition("Running", "True", "AllWorkersStarted", self._started_message())
        action = gang_outcome(
            [w.phase for w in status.workers],
            deadline_passed=self._deadline_passed(),
            restarts=status.restarts,
            backoff_limit=self.job.spec.run_policy.backoff_limit,
        )
        if action == "StopAll":
            self._stop_live()
        elif action == "Succeeded":
            self._finish("Succeeded", "True", "AllWorkersSucceeded", "every worker exited 0")
        elif action == "DeadlineExceeded":
            self._deadline_exceeded()
        elif action == "Failed":
            failed = next(w for w in status.workers if w.phase == "Failed")
            self._finish("Failed", "True", failed.reason, self._failure_message(failed))
        elif action != "Wait":
            self._requeue(action)

    def _started_message(self) -> str:
        return f"{len(self.status.workers)} workers running, MASTER_PORT={self.status.master_port}"

    def _failure_message(self, failed: WorkerStatus) -> str:
        limit = self.job.spec.run_policy.backoff_limit
        return f"{failed.message} (after {self.status.restarts} of {limit} restarts)"

    def _requeue(self, action: str) -> None:
        status = self.status
        if action == "Restart":
            status.restarts += 1
            failed = next(w for w in status.workers if w.phase == "Failed")
            reason, message = "Restarting", f"{failed.message}; restart {status.restarts}"
        elif any(w.phase == "Preempted" for w in status.workers):
            preempted = next(w for w in status.workers if w.phase == "Preempted")
            reason, message = "Preempted", f"{preempted.message}; the gang is queued again"
        else:
            reason, message = "Restarted", "the platform restarted; the gang is queued again"
        status.phase = "Pending"
        self._condition("Running", "False", reason, message)
        self._condition("Admitted", "False", reason, message)

    def _deadline_passed(self) -> bool:
        deadline = self.job.spec.run_policy.active_deadline_seconds
        if deadline is None or self.status.start_time is None:
            return False
        end = self.status.start_time + timedelta(seconds=deadline)
        if self.now < end:
            self.wake.append((end - self.now).total_seconds())
            return False
        return True

    def _check_pending_deadline(self) -> None:
        if self.status.phase == "Pending" and self._deadline_passed():
            self._deadline_exceeded()

    def _deadline_exceeded(self) -> None:
        deadline = self.job.spec.run_policy.active_deadline_seconds
        message = f"the job ran longer than activeDeadlineSeconds={deadline:g}"
        self._finish("Failed", "True", "DeadlineExceeded", message)

    def _stop_live(self) -> None:
        for worker in self.status.workers:
            wid = worker.workload_id
            if worker.phase == "Running" and wid is not None and wid not in self.ctl.stopping:
                self.ctl.stopping.add(wid)
                self.runs.runtime.stop(wid, grace_seconds=self.runs.stop_grace_seconds)

    # -- queue and admit the gang ----------------------------------------------------------------

    def _queue_and_admit(self) -> None:
        spec, queue = self.job.spec, self.runs.queue
        keys = [worker_key(self.namespace, self.name, r) for r in range(spec.workers)]
        priority = self.status.priority or 0
        created = self.job.metadata.creation_timestamp or ""
        created_at = parse_time(created).timestamp() if created else 0.0
        request = spec.resources.request()
        for rank, key in enumerate(keys):
            order = (f"{1_000_000_000 - priority:011d}", created, self.gang, f"{rank:06d}")
            queue.enqueue(
                key, order, request, priority=priority, created=created_at, gang=self.gang
            )
        for other in queue.schedule(self.runs.queue_config(), now=self.now.timestamp()):
            if other != self.gang:
                self.runs.enqueue(other, 0.0)
        self.runs.carry_out_preemptions()
        nevers = [reason for key in keys if (reason := queue.take_never(key))]
        if nevers:
            queue.drop_run(self.gang)
            self._finish("Failed", "True", "Unschedulable", nevers[0])
            return
        grants = [queue.take_reserved(key) for key in keys]
        if all(g is not None for g in grants):
            self._admitted(keys, [g for g in grants if g is not None])
            return
        for key, grant in zip(keys, grants, strict=True):  # never half a gang: hand it back
            if grant is not None:
                queue.reserved[key] = grant
        reason = queue.wait_reasons.get(keys[0])
        if reason and reason != self.status.wait_reason:
            self.status.wait_reason = reason
            self._condition("Admitted", "False", "Waiting", reason)
        if reason:
            self.status.queue_position = queue_position(queue, keys)
            self.status.estimated_start = self.ctl.start_estimate(self.job, keys, self.now)

    def _admitted(self, keys: list[str], grants: list[Grant]) -> None:
        status = self.status
        status.starts += 1
        status.master_port = free_port()
        status.phase = "Admitted"
        status.wait_reason = status.estimated_start = status.queue_position = None
        status.start_time = status.start_time or self.now
        status.completion_time = None
        folder = self._start_dir()
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "shared").mkdir(parents=True)
        status.workers = []
        for rank, (key, grant) in enumerate(zip(keys, grants, strict=True)):
            self.taken.append((key, grant))
            spec = worker_spec(
                self.job,
                rank,
                start=status.starts,
                folder=folder,
                port=status.master_port,
                grant=grant,
                gpus=tuple(self.runs.gpus[i] for i in grant.gpus),
            )
            self.launches.append((spec, grant))
            status.workers.append(self._worker(rank, spec.id, grant))
        message = f"all {len(keys)} workers admitted together (start {status.starts})"
        self._condition("Admitted", "True", "GangAdmitted", message)
        self.wake.append(0.0)  # record the pids, and Running, once launched

    def _worker(self, rank: int, wid: str, grant: Grant) -> WorkerStatus:
        placement = Placement(
            node=self.runs.node.name,
            cpus=list(grant.cores),
            cpu_millis=sum(grant.cpu_millis.values()),
            memory_bytes=grant.memory_bytes,
            gpus=list(grant.gpus),
            # Charged from this: without it a share of a GPU is charged as the whole device.
            gpu_millis=grant.gpu_total_millis or None,
        )
        worker = WorkerStatus(rank=rank, workload_id=wid, start_time=self.now, placement=placement)
        self._set(worker, "Running", "Started", f"start {self.status.starts}")
        return worker

    # -- finish, write, act --------------------------------------------------------------------

    def _finish(self, phase: Any, status: Any, reason: str, message: str) -> None:
        self.status.phase = phase
        self.status.estimated_start = self.status.queue_position = None
        self.status.completion_time = self.now
        self.status.start_time = self.status.start_time or self.now
        self._condition(phase, status, reason, message)
        self._condition("Running", "False", reason, message)
        self.runs.queue.drop_run(self.gang)

    def _fail(self, reason: str, message: str) -> None:
        self._finish("Failed", "True", reason, message)

    def _condition(self, type_: str, status: Any, reason: str, message: str) -> None:
        cond = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=self.now,
            observed_generation=self.job.metadata.generation,
        )
        self.status.conditions = set_condition(self.status.conditions, cond)

    @staticmethod
    def _set(worker: WorkerStatus, phase: Any, reason: str, message: str) -> None:
        worker.phase, worker.reason, worker.message = phase, reason, message

    def _start_dir(self) -> Any:
        return job_dir(self.runs.data, self.namespace, self.name) / str(self.status.starts)

    def _log(self, rank: int) -> Any:
        return self._start_dir() / log_name(rank)

    def _write(self) -> bool:
        self.status.observed_generation = self.job.metadata.generation
        new = self.status.to_dict()
        if new == self.obj.get("status"):
            return True
        try:
            written = self.ctl.store.update_status(RESOURCE, dict(self.obj, status=new))
        except (Conflict, NotFound):
            return False
        self.ctl.own_writes.add(int(written["metadata"]["resourceVersion"]))
        return True

    def _launch(self) -> None:
        expected = self.ctl.expected_duration(self.job)
        # The whole gang is held before any worker starts (a start may take a while): quota
        # checks on the API threads must never see part of it held, the rest nowhere.
        for spec, grant in self.launches:
            self.runs.queue.start(spec.id, grant)
            # For the start estimates of what waits behind the gang.
            self.runs.ends[spec.id] = (
                self.now.timestamp() + expected if expected is not None else None
            )
        for spec, _ in self.launches:
            try:
                self.ctl.pids[spec.id] = self.runs.runtime.launch(spec)
            except Exception as err:  # reported like any exit: the gang fails or restarts
                self.runs.on_exit(
                    WorkloadExit(
                        spec.id, None, None, "LaunchFailed", str(err), self.now.timestamp()
                    )
                )


__all__ = ["JobPass", "workload_id"]
