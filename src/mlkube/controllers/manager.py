"""Runs the controllers: watches feed a work queue, one worker thread reconciles.

One worker keeps reconciles strictly serial, so the controllers' in-memory node view needs no
locks and a step's start is never decided twice. Reconciles take well under a millisecond of
CPU; the slow parts (the steps) run in other processes.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from mlkube.api.clock import Clock
from mlkube.api.errors import Expired
from mlkube.api.kinds import (
    CLUSTER_QUEUE,
    INFERENCE_SERVICE,
    NAMESPACE,
    NODE,
    PERSISTENT_VOLUME_CLAIM,
    PIPELINE_RUN,
    RESOURCE_FLAVOR,
    RESOURCE_QUOTA,
    TRAINING_JOB,
    Kind,
)
from mlkube.controllers.capacity import CAPACITY_REFRESH_SECONDS, CapacityRefresher
from mlkube.controllers.namespace import NamespaceController
from mlkube.controllers.node import NodeController
from mlkube.controllers.pipelinerun.controller import PipelineRunController
from mlkube.controllers.pipelinerun.exchange import step_exchange
from mlkube.controllers.pipelinerun.fair_usage import DEFAULT_HALF_LIFE_SECONDS
from mlkube.controllers.pipelinerun.volumes import ClusterRunVolumes, LocalRunVolumes
from mlkube.controllers.queue_quota_mirror import QueueQuotaMirror
from mlkube.controllers.queue_status import QueueStatusWriter
from mlkube.controllers.serving.autoscaler import ServingAutoscaler
from mlkube.controllers.serving.controller import InferenceServiceController
from mlkube.controllers.serving.router_client import RouterAdmin
from mlkube.controllers.serving_cluster import DEPLOYMENTS, ServingClusterController, owning_service
from mlkube.controllers.storage_quota import ResourceQuotaController
from mlkube.controllers.trainingjob.controller import TrainingJobController
from mlkube.controllers.volumes import VolumeController
from mlkube.controllers.workqueue import WorkQueue
from mlkube.runtime.base import Runtime
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.storage.layout import DataDir
from mlkube.store.accounting import AccountingLog
from mlkube.store.base import ResourceStore, WatchEvent

log = logging.getLogger("mlkube.controllers")

_RUN = "pipelinerun:"
_NS = "namespace:"
_NODE = "node:"
_ISVC = "isvc:"
_AUTOSCALE = "autoscale:"
_JOB = "trainingjob:"
_QUOTA = "quota:"  # a namespace whose ResourceQuota statuses need a recount
_PVC = "pvc:"  # embedded: a PersistentVolumeClaim to bind or finish deleting
_MIRROR = "queuequotas:"  # cluster mode: every namespace's `mlkube-queues` ResourceQuota
_CAPACITY = "capacity:"  # cluster mode: the periodic re-read of the cluster's capacity
_NODES_CHANGED = "nodes-changed:"  # cluster mode: a Node event changed the capacity
_MAX_ERROR_BACKOFF = 30.0
STATUS_INTERVAL_SECONDS = 0.5


class ControllerManager:
    def __init__(
        self,
        store: ResourceStore,
        runtime: Runtime,
        *,
        data: DataDir,
        clock: Clock,
        router: RouterAdmin | None = None,
        usage_half_life: float = DEFAULT_HALF_LIFE_SECONDS,
        accounting: AccountingLog | None = None,
        cluster: bool = False,
        settings: ClusterSettings | None = None,
        capacity_refresh_seconds: float = CAPACITY_REFRESH_SECONDS,
        artifact_store: str | None = None,
        artifact_store_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`cluster=True` runs as the operator inside Kubernetes, which owns some of the work:
        no Node object is written (the kubelets own Nodes; ClusterQueue statuses still are),
        deleted namespaces are emptied by Kubernetes' namespace controller, ResourceQuota
        statuses are its quota controller's (we only mirror the ClusterQueues into one
        ResourceQuota per namespace: `QueueQuotaMirror`), and InferenceServices become a
        Deployment + Service + HPA each (`ServingClusterController`, built with `settings`;
        `store` must then also serve `serving_cluster.SERVING_RESOURCES`). The cluster's
        capacity is read again every `capacity_refresh_seconds` and when a Node event changes
        it (`controllers.capacity`).

        `artifact_store` (`s3://BUCKET[/PREFIX]`) keeps artifacts in an object store instead
        of under `data`; in cluster mode it is `settings.artifact_store`, and step pods then
        also take their invocation from it and write their result there.
        `artifact_store_options` are its fsspec storage options (default: from the
        environment, the AWS way)."""
        self.store = store
        self.cluster = cluster
        self.queue = WorkQueue(monotonic=clock.monotonic)
        self.runs = PipelineRunController(
            store,
            runtime,
            data=data,
            clock=clock,
            enqueue=self._enqueue_run,
            usage_half_life=usage_half_life,
            accounting=accounting,
            exchange=step_exchange(
                data,
                artifact_store=settings.artifact_store if cluster and settings else artifact_store,
                in_pods=cluster,
                options=artifact_store_options,
            ),
            volumes=ClusterRunVolumes(store) if cluster else LocalRunVolumes(store, data),
        )
        self.namespaces = NamespaceController(store)
        self.resource_quotas = ResourceQuotaController(store)
        self.nodes: NodeController | QueueStatusWriter
        if cluster:
            self.nodes = QueueStatusWriter(
                store, self.runs.queue, clock=clock, queues=self.runs.queue_config
            )
        else:
            self.nodes = NodeController(
                store, self.runs.queue, self.runs.gpus, clock=clock, queues=self.runs.queue_config
            )
        self.services = InferenceServiceController(
            store, self.runs, router=router, data=data, enqueue=self._enqueue_service
        )
        self.autoscaler = ServingAutoscaler(self.services)
        self.jobs = TrainingJobController(store, self.runs, enqueue=self._enqueue_job)
        self._autoscale_due = False
        self._node_key = _NODE + self.runs.node.name
        self._errors: dict[str, int] = {}
        self._seen_gen: dict[str, int] = {}
        self._node_due = False
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._handlers: dict[str, Callable[[str], float | None]] = {
            _RUN: self.runs.reconcile,
            _NS: self.namespaces.reconcile,
            _NODE: self._reconcile_node,
            _ISVC: self.services.reconcile,
            _AUTOSCALE: self._autoscale,
            _JOB: self.jobs.reconcile,
            _QUOTA: self.resource_quotas.reconcile,
            _PVC: VolumeController(store, data).reconcile,  # queued in embedded mode only
        }
        if cluster:
            self._handlers[_MIRROR] = QueueQuotaMirror(store).reconcile
            # The cluster's Nodes come and go: see `controllers.capacity`.
            self.capacity = CapacityRefresher(self.runs, interval=capacity_refresh_seconds)
            self._handlers[_CAPACITY] = self.capacity.refresh_periodically
            self._handlers[_NODES_CHANGED] = self.capacity.refresh
            self._handlers[_ISVC] = ServingClusterController(
                store, settings=settings or ClusterSettings(), clock=clock
            ).reconcile

    def _enqueue_run(self, key: str, delay: float) -> None:
        # Replicas of InferenceServices share the node queue and the runtime with steps; their
        # keys read `ns/~name` (see controllers.serving.replicas) and go to their own controller.
        # TrainingJob workers likewise read `ns/@name` (see controllers.trainingjob.workers).
        namespace, _, name = key.partition("/")
        if name.startswith("~"):
            self._enqueue_service(f"{namespace}/{name[1:]}", delay)
        elif name.startswith("@"):
            self._enqueue_job(f"{namespace}/{name[1:]}", delay)
        else:
            self.queue.add_after(_RUN + key, delay)

    def _enqueue_service(self, key: str, delay: float) -> None:
        self.queue.add_after(_ISVC + key, delay)

    def _enqueue_job(self, key: str, delay: float) -> None:
        self.queue.add_after(_JOB + key, delay)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Queue every existing object, then watch for changes and reconcile in the background."""
        rv = self.resync()
        for resource in self._watched():
            self._spawn(f"watch-{resource}", functools.partial(self._watch, resource, rv))
        self._spawn("reconcile", self._work)
        if self.cluster:
            self.queue.add_after(_CAPACITY, self.capacity.interval)

    def _watched(self) -> tuple[str, ...]:
        """The resources whose changes we reconcile (fewer in cluster mode: see `__init__`)."""
        kinds: tuple[Kind, ...] = (PIPELINE_RUN, CLUSTER_QUEUE, RESOURCE_FLAVOR, TRAINING_JOB)
        if not self.cluster:
            kinds += (NAMESPACE, INFERENCE_SERVICE, RESOURCE_QUOTA, PERSISTENT_VOLUME_CLAIM)
            return tuple(kind.resource for kind in kinds)
        return (
            *(kind.resource for kind in kinds),
            INFERENCE_SERVICE.resource,
            DEPLOYMENTS,
            NODE.resource,
        )

    def stop(self) -> None:
        self._stopping.set()
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def resync(self) -> int:
        """Queue a reconcile of every run and namespace; returns the store's resource version."""
        runs, rv = self.store.list(PIPELINE_RUN.resource)
        for obj in runs:
            meta = obj["metadata"]
            self._enqueue_run(f"{meta['namespace']}/{meta['name']}", 0.0)
        watched = self._watched()
        if NAMESPACE.resource in watched:
            for obj in self.store.list(NAMESPACE.resource)[0]:
                self.queue.add(_NS + obj["metadata"]["name"])
        if INFERENCE_SERVICE.resource in watched:
            for obj in self.store.list(INFERENCE_SERVICE.resource)[0]:
                meta = obj["metadata"]
                self._enqueue_service(f"{meta['namespace']}/{meta['name']}", 0.0)
        if PERSISTENT_VOLUME_CLAIM.resource in watched:
            for obj in self.store.list(PERSISTENT_VOLUME_CLAIM.resource)[0]:
                self.queue.add(f"{_PVC}{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        for obj in self.store.list(TRAINING_JOB.resource)[0]:
            meta = obj["metadata"]
            self._enqueue_job(f"{meta['namespace']}/{meta['name']}", 0.0)
        self.queue.add(self._node_key)
        if self.cluster:
            self.queue.add(_MIRROR)
        return rv

    def enqueue_event(self, event: WatchEvent) -> None:
        """Queue the reconcile a store event calls for (events of other kinds are ignored)."""
        meta = event.object.get("metadata") or {}
        kind = event.object.get("kind")
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if kind in (PIPELINE_RUN.kind, RESOURCE_QUOTA.kind, PERSISTENT_VOLUME_CLAIM.kind) and (
            not self.cluster
        ):
            # Outputs written or runs gone change storage in use; one recount per burst.
            self.queue.add_after(_QUOTA + str(meta.get("namespace")), 0.5)
        if kind == PIPELINE_RUN.kind:
            if not _own_write(event, self.runs.own_writes):
                self._enqueue_run(key, 0.0)
        elif kind == INFERENCE_SERVICE.kind:
            if not _own_write(event, self.services.own_writes):
                self._enqueue_service(key, 0.0)
        elif kind == NODE.kind and self.cluster and self.capacity.node_changed(event):
            self.queue.add(_NODES_CHANGED)
        elif kind == "Deployment" and self.cluster and (owner := owning_service(event.object)):
            self._enqueue_service(owner, 0.0)  # its status is the InferenceService's
        elif kind == TRAINING_JOB.kind:
            if not _own_write(event, self.jobs.own_writes):
                self._enqueue_job(key, 0.0)
        elif kind == NAMESPACE.kind:
            self.queue.add(_NS + str(meta.get("name")))
        elif kind == PERSISTENT_VOLUME_CLAIM.kind and not self.cluster:
            self.queue.add(_PVC + key)
        elif kind == RESOURCE_FLAVOR.kind or (
            kind == CLUSTER_QUEUE.kind and self._queue_spec_changed(event)
        ):
            self.runs.queues_changed()
            self.queue.add(self._node_key)
            if self.cluster and kind == CLUSTER_QUEUE.kind:
                self.queue.add(_MIRROR)

    def _autoscale(self, _: str) -> float | None:
        self._autoscale_due = False
        delay = self.autoscaler.tick()
        self._autoscale_due = delay is not None
        return delay

    def _reconcile_node(self, name: str) -> float | None:
        self._node_due = False
        return self.nodes.reconcile(name)

    def _queue_spec_changed(self, event: WatchEvent) -> bool:
        """A ClusterQueue was added, removed or given a new spec (its status, which we write
        often, does not change its generation)."""
        meta = event.object.get("metadata") or {}
        name, generation = str(meta.get("name")), int(meta.get("generation") or 0)
        if event.type == "DELETED":
            self._seen_gen.pop(name, None)
            return True
        changed = self._seen_gen.get(name) != generation
        self._seen_gen[name] = generation
        return changed

    def process_pending(self, *, max_items: int = 10_000) -> int:
        """Reconcile what is queued now, in this thread (tests, tools); returns how many."""
        done = 0
        while done < max_items:
            key = self.queue.get(timeout=0)
            if key is None:
                break
            self._process(key)
            done += 1
        return done

    # -- internals --------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"mlkube-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self) -> None:
        while not self._stopping.is_set():
            key = self.queue.get(timeout=1.0)
            if key is not None:
                self._process(key)

    def _process(self, key: str) -> None:
        prefix, _, name = key.partition(":")
        try:
            delay = self._handlers[prefix + ":"](name)
        except Exception:  # one bad object must never stall the loop
            failures = self._errors.get(key, 0) + 1
            self._errors[key] = failures
            # The exponent is capped: 2**failures would overflow a float after ~1000 tries.
            delay = min(0.05 * 2 ** min(failures, 16), _MAX_ERROR_BACKOFF)
            log.exception(
                "reconcile %s failed (attempt %d); retrying in %.2fs", key, failures, delay
            )
        else:
            self._errors.pop(key, None)
        finally:
            self.queue.done(key)
        if delay is not None:
            self.queue.add_after(key, delay)
        if prefix + ":" == _ISVC and not self._autoscale_due and self.services.services:
            self._autoscale_due = True
            self.queue.add_after(_AUTOSCALE, 0.5)
        # Steps, replicas and training workers hold what the node and queue statuses report.
        if prefix + ":" in (_RUN, _ISVC, _JOB) and self.nodes.stale() and not self._node_due:
            # Node and queue statuses trail allocations by up to this interval, so a burst of
            # transitions costs one status write, not one per step or replica.
            self._node_due = True
            self.queue.add_after(self._node_key, STATUS_INTERVAL_SECONDS)

    def _watch(self, resource: str, rv: int) -> None:
        while not self._stopping.is_set():
            watch = self.store.watch(resource, resource_version=rv)
            try:
                while not self._stopping.is_set():
                    event = watch.next(timeout=0.5)
                    if event is None:
                        continue
                    rv = event.resource_version
                    self.enqueue_event(event)
            except Expired:
                rv = self.resync()  # history was compacted: list again, as an informer would
            finally:
                watch.close()


def _own_write(event: WatchEvent, own_writes: set[int]) -> bool:
    """The event reports a status this manager's controller wrote itself: nothing new to do.
    Forgets the version, as each is seen once."""
    if event.type == "MODIFIED" and event.resource_version in own_writes:
        own_writes.discard(event.resource_version)
        return True
    return False
