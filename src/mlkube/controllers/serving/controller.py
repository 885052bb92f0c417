"""The InferenceService controller: revisions, replicas, routes, status.

Level-triggered: each `reconcile("ns/name")` loads the service, plans revisions and traffic
(`traffic.plan_traffic`), brings each revision's replicas to the count the autoscaler wants
(queueing new ones on the node like pipeline steps, replacing crashed ones with a backoff,
stopping extra ones), pushes the ready endpoints to the router, and writes the status.

It shares the node queue, the runtime and the exit table with the PipelineRun controller, so
replicas and steps are admitted by the same quota and fit the same node; the manager runs
both on one worker thread, so none of this needs a lock.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import INFERENCE_SERVICE
from mlkube.api.serving import InferenceService
from mlkube.controllers.finalizers import add_finalizer, remove_finalizer
from mlkube.controllers.pipelinerun.controller import PipelineRunController
from mlkube.controllers.serving.model_source import ModelNotReady, resolve_model
from mlkube.controllers.serving.replicas import (
    Replica,
    RevisionState,
    ServiceState,
    crash_backoff,
    log_tail,
    read_ready_file,
    replica_spec,
    service_marker,
)
from mlkube.controllers.serving.router_client import (
    Endpoint,
    RevisionRoute,
    RouterAdmin,
    ServiceRoute,
)
from mlkube.controllers.serving.status import build_status
from mlkube.controllers.serving.traffic import plan_traffic
from mlkube.runtime.base import WorkloadExit
from mlkube.scheduling.node_fit import Grant
from mlkube.storage.layout import DataDir
from mlkube.store.base import ResourceStore

__all__ = ["FINALIZER", "InferenceServiceController"]

FINALIZER = "mlkube.io/inferenceservice"
RESOURCE = INFERENCE_SERVICE.resource
_POLL_STARTING = 0.05
_RETRY_MODEL = 2.0


class InferenceServiceController:
    def __init__(
        self,
        store: ResourceStore,
        runs: PipelineRunController,
        *,
        router: RouterAdmin | None,
        data: DataDir,
        enqueue: Callable[[str, float], None],
        stop_grace_seconds: float = 5.0,
    ) -> None:
        self.store, self.runs, self.router, self.data = store, runs, router, data
        self.enqueue = enqueue
        self.stop_grace_seconds = stop_grace_seconds
        self.services: dict[str, ServiceState] = {}
        self.own_writes: set[int] = set()
        self._pushed: list[ServiceRoute] | None = None

    @property
    def now(self) -> float:
        return self.runs.clock.monotonic()

    # -- reconcile --------------------------------------------------------------------------

    def reconcile(self, key: str) -> float | None:
        """Bring the service `ns/name` toward its spec; returns a requeue delay."""
        namespace, name = key.split("/", 1)
        try:
            obj = self.store.get(RESOURCE, namespace, name)
        except NotFound:
            self._teardown(key)
            return None
        isvc = InferenceService.model_validate(obj)
        if isvc.metadata.deletion_timestamp:
            return self._finalize(key, obj)
        if FINALIZER not in isvc.metadata.finalizers:
            obj = add_finalizer(self.store, RESOURCE, obj, FINALIZER)
            isvc = InferenceService.model_validate(obj)
        service = self._service(isvc)
        for revision in service.revisions.values():
            self._collect_exits(revision, self.now)
            self._check_ready(revision)
        delays = [self._plan(service, isvc)]
        for revision in service.revisions.values():
            delays.append(self._sync_replicas(service, revision))
        for revision in list(service.retired):
            self._collect_exits(revision, self.now)
            if not revision.replicas:
                service.retired.remove(revision)
        self._push_routes()
        self._write_status(service, isvc, obj)
        pending = [d for d in delays if d is not None]
        return min(pending) if pending else None

    def _service(self, isvc: InferenceService) -> ServiceState:
        meta = isvc.metadata
        key = f"{meta.namespace}/{meta.name}"
        service = self.services.get(key)
        if service is None or service.uid != meta.uid:
            service = ServiceState(
                str(meta.namespace), str(meta.name), str(meta.uid), isvc.spec.predictor
            )
            for rev in isvc.status.revisions:  # names survive restarts through the status
                service.revisions[rev.name] = RevisionState(
                    rev.name,
                    rev.fingerprint,
                    rev.model_format,
                    rev.storage_uri,
                    rev.resources,
                    rev.batching,
                )
            # The rollout's bookkeeping survives restarts through the status too.
            service.latest = isvc.status.latest_created_revision
            service.previous = isvc.status.previous_rolledout_revision
            self.services[key] = service
        service.predictor = isvc.spec.predictor
        return service

    def _plan(self, service: ServiceState, isvc: InferenceService) -> float | None:
        """Decide the revisions and their traffic; resolve the newest one's model."""
        plan = plan_traffic(
            service.name,
            isvc.spec.predictor,
            known={n: r.fingerprint for n, r in service.revisions.items()},
            latest=service.latest if service.revisions else None,
            previous_rolled_out=service.previous,
            ready=frozenset(n for n, r in service.revisions.items() if r.ready()),
        )
        service.latest, service.previous = plan.latest, plan.previous_rolled_out
        predictor = isvc.spec.predictor
        delay = None
        for rev_plan in plan.revisions:
            revision = service.revisions.get(rev_plan.name)
            if revision is None:
                revision = RevisionState(
                    rev_plan.name,
                    rev_plan.fingerprint,
                    predictor.model.model_format.name,
                    predictor.model.storage_uri,
                    predictor.resources,
                    predictor.batching,
                )
                service.revisions[rev_plan.name] = revision
            if revision.model_path is None:
                try:
                    source = resolve_model(self.store, service.namespace, revision.storage_uri)
                    revision.model_path, revision.model_artifact = source.path, source.artifact
                except ModelNotReady as err:
                    revision.message = f"ModelNotFound: {err}"
                    delay = _RETRY_MODEL
            if not rev_plan.runs:
                revision.desired = 0
            elif not revision.initialized:
                # Start like Knative's initial scale: one replica even when scaling to zero
                # is allowed, so a broken model shows at once instead of at the first request.
                revision.desired = min(max(predictor.min_replicas, 1), predictor.max_replicas)
                revision.initialized = True
            else:
                revision.desired = min(
                    max(revision.desired, predictor.min_replicas), predictor.max_replicas
                )
            if revision.model_path is None:
                revision.desired = 0
        service.percents = {p.name: p.percent for p in plan.revisions}
        for gone in [n for n in service.revisions if n not in service.percents]:
            self._retire(service, service.revisions.pop(gone))
        return delay

    # -- replicas ---------------------------------------------------------------------------

    def _sync_replicas(self, service: ServiceState, revision: RevisionState) -> float | None:
        now = self.now
        live = revision.live()
        for replica in sorted(live, key=lambda r: -r.slot)[: max(0, len(live) - revision.desired)]:
            self._stop(revision, replica)
        wanted = [s for s in range(revision.desired) if s not in revision.replicas]
        if wanted and now < revision.start_after:
            return revision.start_after - now
        for slot in wanted:
            revision.incarnations += 1
            step_key = f"{service_marker(service.namespace, service.name)}/{revision.name}.r{slot}"
            replica = Replica(revision.name, slot, revision.incarnations, step_key)
            revision.replicas[slot] = replica
            request = revision.resources.request()
            order = ("0" * 11, "", step_key)  # replicas go first among equal priority
            self.runs.queue.enqueue(step_key, order, request, created=0.0)
        self._admit(service, revision)
        starting = any(r.phase == "Starting" for r in revision.replicas.values())
        return _POLL_STARTING if starting else None

    def _admit(self, service: ServiceState, revision: RevisionState) -> None:
        queue = self.runs.queue
        for other in queue.schedule(
            self.runs.queue_config(), now=self.runs.clock.now().timestamp()
        ):
            if other != service_marker(service.namespace, service.name):
                self.runs.enqueue(other, 0.0)
        self.runs.carry_out_preemptions()
        for replica in list(revision.replicas.values()):
            if replica.phase != "Waiting":
                continue
            never = queue.take_never(replica.step_key)
            grant = queue.take_reserved(replica.step_key)
            if never:
                revision.message = f"Unschedulable: {never}"
                del revision.replicas[replica.slot]
                revision.desired = 0
            elif grant is not None:
                self._launch(service, revision, replica, grant)
            elif replica.step_key in queue.wait_reasons:
                revision.message = f"Pending: {queue.wait_reasons[replica.step_key]}"

    def _launch(
        self, service: ServiceState, revision: RevisionState, replica: Replica, grant: Grant
    ) -> None:
        folder = (
            self.data.root
            / "serving"
            / service.namespace
            / service.name
            / revision.name
            / f"r{replica.slot}-{replica.incarnation}"
        )
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        gpus = tuple(self.runs.gpus[i] for i in grant.gpus)
        spec = replica_spec(service, revision, replica, folder=folder, grant=grant, gpus=gpus)
        replica.workload_id, replica.phase = spec.id, "Starting"
        self.runs.queue.start(spec.id, grant)
        try:
            self.runs.runtime.start(spec)
        except Exception as err:  # reported like any exit, so the replica is replaced
            self.runs.on_exit(WorkloadExit(spec.id, None, None, "LaunchFailed", str(err), 0.0))

    def _collect_exits(self, revision: RevisionState, now: float) -> None:
        for replica in list(revision.replicas.values()):
            if replica.workload_id is None:
                continue
            exit_ = self.runs.pop_exit(replica.workload_id)
            if exit_ is None:
                continue
            # Made room for higher-priority work: queued again, neither a crash nor a restart.
            preempted = replica.workload_id in self.runs.queue.preempting
            self.runs.release(replica.workload_id)
            del revision.replicas[replica.slot]
            if replica.phase == "Stopping" or preempted:
                continue
            revision.restarts += 1
            if replica.phase == "Starting":
                revision.failures_in_row += 1
            tail = log_tail(replica.log_path)
            revision.message = f"replica r{replica.slot} exited ({exit_.message})" + (
                f": {tail}" if tail else ""
            )
            revision.start_after = now + crash_backoff(revision.failures_in_row)

    def _check_ready(self, revision: RevisionState) -> None:
        for replica in revision.replicas.values():
            if replica.phase == "Starting":
                port = read_ready_file(replica.ready_file)
                if port is not None:
                    replica.phase, replica.port = "Ready", port
                    revision.activated = True
                    revision.failures_in_row = 0
                    revision.message = ""

    def _stop(self, revision: RevisionState, replica: Replica) -> None:
        if replica.workload_id is None:  # still waiting for room: nothing runs yet
            self.runs.queue.drop(replica.step_key)
            del revision.replicas[replica.slot]
            return
        replica.phase = "Stopping"
        self.runs.runtime.stop(replica.workload_id, grace_seconds=self.stop_grace_seconds)

    def _retire(self, service: ServiceState, revision: RevisionState) -> None:
        self._stop_all(revision)
        if revision.replicas:  # their exits still have to be collected
            service.retired.append(revision)

    def _stop_all(self, revision: RevisionState) -> None:
        for replica in list(revision.replicas.values()):
            if replica.phase != "Stopping":
                self._stop(revision, replica)

    # -- routes, status, teardown -----------------------------------------------------------

    def routes(self) -> list[ServiceRoute]:
        out = []
        for service in sorted(self.services.values(), key=lambda s: s.key):
            revisions = tuple(
                RevisionRoute(
                    name,
                    percent,
                    tuple(
                        Endpoint(f"{name}.r{r.slot}-{r.incarnation}", "127.0.0.1", r.port)
                        for r in sorted(service.revisions[name].ready(), key=lambda r: r.slot)
                        if r.port is not None
                    ),
                )
                for name, percent in sorted(service.percents.items())
                if name in service.revisions
            )
            if revisions:
                timeout = service.predictor.timeout_seconds
                out.append(ServiceRoute(service.namespace, service.name, revisions, timeout))
        return out

    def _push_routes(self) -> None:
        routes = self.routes()
        if self.router is None or routes == self._pushed:
            return
        self.router.set_routes(routes)
        self._pushed = routes

    def _write_status(
        self, service: ServiceState, isvc: InferenceService, obj: dict[str, Any]
    ) -> None:
        base = self.router.public_url if self.router is not None else None
        status = build_status(service, isvc, base_url=base, now=self.runs.clock.now())
        new = status.to_dict()
        if new == obj.get("status"):
            return
        try:
            written = self.store.update_status(RESOURCE, dict(obj, status=new))
        except (Conflict, NotFound):
            self.enqueue(service.key, 0.0)
            return
        self.own_writes.add(int(written["metadata"]["resourceVersion"]))

    def _finalize(self, key: str, obj: dict[str, Any]) -> float | None:
        if self._teardown(key):
            return 0.2
        if not remove_finalizer(self.store, RESOURCE, obj, FINALIZER):
            return 0.0
        namespace, name = key.split("/", 1)
        shutil.rmtree(self.data.root / "serving" / namespace / name, ignore_errors=True)
        return None

    def _teardown(self, key: str) -> bool:
        """Stop every replica of the service; True while some have not exited yet."""
        service = self.services.get(key)
        if service is None:
            return False
        busy = False
        for revision in [*service.revisions.values(), *service.retired]:
            self._collect_exits(revision, self.now)
            self._stop_all(revision)
            busy = busy or bool(revision.replicas)
        if not busy:
            del self.services[key]
        else:
            service.percents = {}
        self._push_routes()
        return busy
