"""One reconcile of one run: load → decide → write → act.

Decisions are made on a copy of the run's status; it is written once, with optimistic
concurrency, and only then are the admitted steps launched, so a crash between the two leaves a
step recorded as Running that the next process finds lost and runs again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import PIPELINE_RUN
from mlkube.api.meta import Condition, parse_time, set_condition
from mlkube.api.pipeline import PipelineSpec, StepSpec
from mlkube.api.pipelinerun import (
    FINISHED_RUN_PHASES,
    OutputValue,
    PipelineRun,
    Placement,
    StepStatus,
)
from mlkube.api.validation import topological_order
from mlkube.controllers.pipelinerun import oom, progress, resolve
from mlkube.controllers.pipelinerun.accounting import pipeline_id
from mlkube.controllers.pipelinerun.attempt_outcome import failure_of, record_failure
from mlkube.controllers.pipelinerun.launch import (
    StepAttempt,
    granted_alternative,
    step_cache_key,
    workload_spec,
)
from mlkube.controllers.pipelinerun.volumes import WAIT_REASON, WAIT_SECONDS, released
from mlkube.runtime.base import WorkloadExit, WorkloadSpec
from mlkube.scheduling.node_fit import Grant

if TYPE_CHECKING:
    from mlkube.controllers.pipelinerun.controller import PipelineRunController

RESOURCE = PIPELINE_RUN.resource


class RunPass:
    """One reconcile of one run: load → decide → write → act."""

    def __init__(self, ctl: PipelineRunController, run: PipelineRun, obj: dict[str, Any]) -> None:
        self.ctl = ctl
        self.run = run
        self.obj = obj
        self.key = f"{run.metadata.namespace}/{run.metadata.name}"
        self.now = ctl.clock.now()
        # `run` was parsed for this pass alone, so its status is ours to change; the stored
        # form stays in `obj` for the "did anything change" test (a deep copy costs more
        # than the rest of the pass).
        self.status = run.status
        self.launches: list[tuple[WorkloadSpec, Grant, str]] = []
        self.consumed_exits: list[WorkloadExit] = []
        self.wake: list[float] = []
        self.params: dict[str, Any] = {}

    @property
    def spec(self) -> PipelineSpec:
        assert self.status.pipeline_spec is not None
        return self.status.pipeline_spec

    def execute(self) -> float | None:
        if self._start():
            statuses = {s.name: s for s in self.status.steps}
            by_name = {s.name: s for s in self.spec.steps}
            order = topological_order({s.name: s.upstream() for s in self.spec.steps})
            for name in order:
                self._advance(by_name[name], statuses)
            self._admit(statuses)
            self._finish(statuses)
        if not self._write():
            # Nothing was recorded: hand back what this pass took, for the next one.
            for _, grant, step_key in self.launches:
                self.ctl.queue.reserved[step_key] = grant
            for exit_ in self.consumed_exits:
                self.ctl.restore_exit(exit_)
            return 0.0
        self._launch()
        if self.status.phase in FINISHED_RUN_PHASES:
            self.ctl.volumes.release(self.run)  # scratch volumes die with their run
        return min(self.wake) if self.wake else None

    # -- start: snapshot the pipeline and parameters --------------------------------------------

    def _start(self) -> bool:
        status = self.status
        if status.pipeline_spec is None:
            spec, reason, problem = resolve.pipeline_spec(self.ctl.store, self.run)
            if spec is None:
                self._fail_run(reason, problem)
                return False
            priority = resolve.priority(self.ctl.store, self.run)
            if priority is None:
                name = self.run.spec.priority_class_name
                self._fail_run("PriorityClassNotFound", f'priority class "{name}" not found')
                return False
            status.priority = priority
            status.queue = self.ctl.queue_config().queue_of.get(self.run.metadata.namespace or "")
            status.pipeline_spec = spec
            status.params = resolve.params_with_defaults(self.run, spec)
            status.steps = [StepStatus(name=s.name) for s in spec.steps]
            status.volumes = self.ctl.volumes.start(self.run, spec)
            status.start_time = self.now
            status.phase = "Running"
            self._condition("Unknown", "Running", "the run has started")
        self.params = {p.name: p.value for p in status.params}
        return True

    # -- advance one step ----------------------------------------------------------------------

    def _attempt(self, name: str, attempt: int) -> StepAttempt:
        meta = self.run.metadata
        return StepAttempt(meta.namespace or "", meta.name or "", meta.uid or "", name, attempt)

    def _advance(self, step: StepSpec, statuses: dict[str, StepStatus]) -> None:
        st = statuses[step.name]
        if st.phase == "Running":
            self._running(step, st)
        if st.phase == "Retrying":
            if st.next_retry_time and st.next_retry_time > self.now:
                self.wake.append((st.next_retry_time - self.now).total_seconds())
                return
            self._set(st, "Waiting", "Retrying", f"attempt {st.attempts + 1} is queued")
        if st.phase == "Pending":
            self._pending(step, st, statuses)
        if st.phase == "Waiting":
            self._waiting(step, st)

    def _pending(self, step: StepSpec, st: StepStatus, statuses: dict[str, StepStatus]) -> None:
        skip = progress.skip_reason(step, statuses)
        if skip:
            self._set(st, "Skipped", "UpstreamFailed", skip)
            st.finish_time = self.now
            return
        if not progress.is_ready(step, statuses):
            return
        try:
            inputs = progress.resolve_inputs(step, statuses, self.params)
        except progress.MissingInput as err:
            self._set(st, "Failed", "InputMissing", str(err))
            st.finish_time = self.now
            return
        if step.cache and self.run.spec.cache and not step.volume_mounts:
            st.cache_key = step_cache_key(step, inputs)
            hit = self.ctl.cache.get(st.cache_key)
            if hit is not None:
                self._set(st, "Succeeded", "Cached", "outputs reused from an earlier identical run")
                st.cached = True
                st.outputs = [OutputValue.model_validate(o) for o in hit]
                st.start_time = st.finish_time = self.now
                return
        blocked = self.ctl.volumes.blocked(self.run, self.spec, step)
        if blocked is not None:  # as a pod stays Pending on a missing or unbound claim
            self._set(st, "Pending", WAIT_REASON, blocked)
            self.wake.append(WAIT_SECONDS)
            return
        self._set(st, "Waiting", "Queued", "waiting for resources on the node")

    @cached_property
    def _pipeline(self) -> str:
        return pipeline_id(self.run)

    def _expected_duration(self, step: StepSpec) -> float | None:
        namespace = self.run.metadata.namespace or ""
        return self.ctl.expected_duration(
            namespace, self._pipeline, step.name, step.timeout_seconds
        )

    @cached_property
    def _index(self) -> dict[str, int]:
        """Each step's position in the spec: its place in line among the run's steps."""
        return {s.name: i for i, s in enumerate(self.spec.steps)}

    @cached_property
    def _created(self) -> tuple[str, float]:
        """When the run was created, as stored and as a timestamp (0 if unknown)."""
        created = self.run.metadata.creation_timestamp or ""
        return created, parse_time(created).timestamp() if created else 0.0

    def _waiting(self, step: StepSpec, st: StepStatus) -> None:
        """Queue the step on the node (idempotent: it keeps its place in line)."""
        created, created_at = self._created
        index = self._index[step.name]
        priority = self.status.priority or 0
        # Higher priority first, then arrival: the inverted priority sorts as a string.
        order = (f"{1_000_000_000 - priority:011d}", created, self.key, f"{index:06d}")
        arrival = created_at + index * 1e-6 if created else 0.0
        self.ctl.queue.enqueue(
            f"{self.key}/{step.name}",
            order,
            oom.effective_request(step, st),
            priority=priority,
            created=arrival,
        )
        self.ctl.durations[f"{self.key}/{step.name}"] = self._expected_duration(step)

    def _admit(self, statuses: dict[str, StepStatus]) -> None:
        """One scheduling pass over the whole node, then start what of this run was admitted."""
        queue = self.ctl.queue
        for run_key in queue.schedule(self.ctl.queue_config(), now=self.now.timestamp()):
            if run_key != self.key:
                self.ctl.enqueue(run_key, 0.0)
        self.ctl.carry_out_preemptions()
        for step in self.spec.steps:
            st = statuses[step.name]
            if st.phase != "Waiting":
                continue
            step_key = f"{self.key}/{step.name}"
            never = queue.take_never(step_key)
            grant = queue.take_reserved(step_key)
            if never:
                self._set(st, "Failed", "Unschedulable", never)
                st.finish_time = self.now
                self.wake.append(0.0)  # so downstream steps are skipped next pass
            elif grant is not None:
                self._begin(step, statuses, grant, step_key)
            elif step_key in queue.wait_reasons:
                st.message = queue.wait_reasons[step_key]
                st.estimated_start = self.ctl.start_estimate(step_key, self.now.timestamp())

    def _begin(
        self, step: StepSpec, statuses: dict[str, StepStatus], grant: Grant, step_key: str
    ) -> None:
        st = statuses[step.name]
        inputs = progress.resolve_inputs(step, statuses, self.params)
        st.attempts += 1
        attempt = self._attempt(step.name, st.attempts)
        call = self.ctl.exchange.write(attempt, step, inputs)
        gpus = tuple(self.ctl.gpus[i] for i in grant.gpus)
        volumes = self.ctl.volumes.for_step(self.run, self.spec, step)
        spec = workload_spec(attempt, step, call=call, grant=grant, gpus=gpus, volumes=volumes)
        self._set(st, "Running", "Started", f"attempt {st.attempts} running")
        st.start_time = self.now
        st.estimated_start = None
        duration = self.ctl.durations.pop(step_key, None) or self._expected_duration(step)
        self.ctl.ends[attempt.workload_id] = (
            self.now.timestamp() + duration if duration is not None else None
        )
        st.finish_time = st.next_retry_time = st.exit_code = None
        st.placement = Placement(
            node=self.ctl.node.name,
            cpus=list(grant.cores),
            cpu_millis=sum(grant.cpu_millis.values()),
            memory_bytes=grant.memory_bytes,
            gpus=list(grant.gpus),
            gpu_millis=grant.gpu_total_millis or None,
            gpu_alternative=granted_alternative(step, grant),
        )
        self.launches.append((spec, grant, step_key))
        if step.timeout_seconds:
            self.wake.append(step.timeout_seconds)

    def _running(self, step: StepSpec, st: StepStatus) -> None:
        attempt = self._attempt(step.name, st.attempts)
        wid = attempt.workload_id
        exit_ = self.ctl.pop_exit(wid)
        if exit_ is not None:
            self.consumed_exits.append(exit_)
            self._exited(step, st, attempt, exit_)
            return
        if wid not in self.ctl.queue.running:
            self._lost(step, st, attempt)
            return
        self._check_deadline(step, st, wid)

    def _check_deadline(self, step: StepSpec, st: StepStatus, wid: str) -> None:
        if not step.timeout_seconds or st.start_time is None:
            return
        deadline = st.start_time + timedelta(seconds=step.timeout_seconds)
        if self.now < deadline:
            self.wake.append((deadline - self.now).total_seconds())
        elif st.reason != "DeadlineExceeded":
            st.reason = "DeadlineExceeded"
            st.message = f"step ran longer than timeoutSeconds={step.timeout_seconds:g}"
            self.ctl.runtime.stop(wid, grace_seconds=self.ctl.stop_grace_seconds)

    def _exited(
        self, step: StepSpec, st: StepStatus, attempt: StepAttempt, exit_: WorkloadExit
    ) -> None:
        wid = attempt.workload_id
        st.usage = self.ctl.usage_of(wid) or st.usage
        st.exit_code = exit_.exit_code
        st.finish_time = datetime.fromtimestamp(exit_.finished_at, self.now.tzinfo)
        preemptor = self.ctl.queue.preempting.get(wid)  # forgotten on release
        self.ctl.release(wid)
        if preemptor is not None:
            self.ctl.record_attempt(self.run, st, end=exit_.finished_at, outcome="Preempted")
            st.attempts -= 1  # being preempted is not the step's failure
            self.ctl.exchange.discard_result(attempt)  # its number is used again
            st.placement = None
            self._set(st, "Waiting", "Preempted", f"preempted for {preemptor}; requeued")
            return
        result = self.ctl.exchange.read_result(attempt)
        succeeded = exit_.reason == "Completed" and result is not None and "outputs" in result
        outcome = "Succeeded" if succeeded else "Failed"
        self.ctl.record_attempt(self.run, st, end=exit_.finished_at, outcome=outcome)
        if succeeded:
            assert result is not None
            self._succeeded(st, attempt, result["outputs"])
            return
        reason, message = failure_of(exit_, result, st)
        delay = record_failure(
            step, st, reason, message, now=self.now, node_memory_bytes=self.ctl.node.memory_bytes
        )
        if delay is not None:
            self.wake.append(delay)

    def _succeeded(
        self, st: StepStatus, attempt: StepAttempt, outputs: list[dict[str, Any]]
    ) -> None:
        st.outputs = [OutputValue.model_validate(o) for o in outputs]
        self._set(st, "Succeeded", "Completed", f"attempt {st.attempts} succeeded")
        if st.cache_key:
            source = f"{attempt.namespace}/{attempt.run}/{attempt.step}/{attempt.attempt}"
            self.ctl.cache.put(st.cache_key, outputs, source=source)

    def _lost(self, step: StepSpec, st: StepStatus, attempt: StepAttempt) -> None:
        """Status says Running but no workload exists: the platform restarted meanwhile."""
        result = self.ctl.exchange.read_result(attempt)
        if result is not None and "outputs" in result:
            st.finish_time = self.now
            self._succeeded(st, attempt, result["outputs"])
            return
        st.attempts -= 1  # the interrupted attempt is not the step's fault
        self._set(
            st,
            "Waiting",
            "Restarted",
            "the platform restarted while this step ran; running it again",
        )
        st.placement = None

    # -- finish and write ------------------------------------------------------------------------

    def _finish(self, statuses: dict[str, StepStatus]) -> None:
        outcome = progress.run_outcome(self.status.steps)
        if outcome is None:
            return
        phase, reason, message = outcome
        self.status.phase = "Succeeded" if phase == "Succeeded" else "Failed"
        self.status.completion_time = self.now
        self.status.outputs = progress.pipeline_outputs(self.spec, statuses)
        self._condition("True" if phase == "Succeeded" else "False", reason, message)
        self.status.volumes = released(self.status.volumes)
        self.ctl.queue.drop_run(self.key)

    def _fail_run(self, reason: str, message: str) -> None:
        self.status.phase = "Failed"
        self.status.start_time = self.status.start_time or self.now
        self.status.completion_time = self.now
        self._condition("False", reason, message)

    def _condition(self, status: Any, reason: str, message: str) -> None:
        cond = Condition(
            type="Succeeded",
            status=status,
            reason=reason,
            message=message,
            last_transition_time=self.now,
        )
        self.status.conditions = set_condition(self.status.conditions, cond)

    def _set(self, st: StepStatus, phase: Any, reason: str, message: str) -> None:
        st.phase, st.reason, st.message = phase, reason, message

    def _write(self) -> bool:
        self.status.observed_generation = self.run.metadata.generation
        new = self.status.to_dict()
        if new == self.obj.get("status"):
            return True
        body = dict(self.obj, status=new)
        try:
            written = self.ctl.store.update_status(RESOURCE, body)
        except (Conflict, NotFound):
            return False
        self.ctl.own_writes.add(int(written["metadata"]["resourceVersion"]))
        return True

    def _launch(self) -> None:
        # Every grant is held before any process starts (the first start may take a while):
        # quota checks on the API threads must never see a step Running but not holding.
        for spec, grant, _ in self.launches:
            self.ctl.queue.start(spec.id, grant)
        for spec, _, _ in self.launches:
            try:
                self.ctl.runtime.start(spec)
            except Exception as err:
                self.ctl.on_exit(
                    WorkloadExit(
                        spec.id,
                        None,
                        None,
                        "LaunchFailed",
                        str(err),
                        self.ctl.clock.now().timestamp(),
                    )
                )
