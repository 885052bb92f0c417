"""`KubernetesRuntime`: the `Runtime` protocol over a kube-apiserver, one Pod per workload.

    runtime = KubernetesRuntime(api_client, ClusterSettings(image=...))
    runtime.set_exit_handler(on_exit)
    runtime.start(spec)          # creates the Pod (see `workload_pod`) in the id's namespace
    runtime.stop(spec.id, grace_seconds=5)
    runtime.close()              # stops watching; running pods are LEFT running

Why a bare Pod rather than a Job of one pod: the controllers already own retries (a step's
Job would have `backoffLimit: 0` anyway), a Pod is the one object whose status holds the exit
code, and stopping is deleting it with a grace period, so there is one object to create,
watch and delete, and kube-scheduler and the kubelet still do the placing and running.

How the end of a workload is learnt: one watch on every pod labelled `mlkube.io/workload`
(`PodWatch`); a pod reaching Succeeded / Failed, or disappearing, becomes a `WorkloadExit`
(`pod_exits.pod_exit`), delivered exactly once, from one delivery thread, after the pod's log
has been copied to the spec's `log_path` (best effort). Creating and deleting pods happens on
a worker thread, in order, so `start` and `stop` return at once.

Usage comes from the cluster's resource metrics API (metrics-server), sampled every
`sample_seconds` (`pod_metrics`); it stays None on a cluster without that API.

What this runtime does not do: `node()` is the whole cluster as one node (`cluster_node`), so
kube-scheduler may still leave an admitted pod Pending when no single node fits it.

On an operator restart: `close` leaves pods running, so work survives the operator. The new
process's controllers find steps recorded Running that their runtime does not know and launch
the same workload id again; a pod of that id that still runs is then ADOPTED (watched, not
recreated), and a finished one is deleted and created anew (the controller runs the attempt
again only when no result was written).

How long a finished pod stays: a workload whose spec names an `owner` (a step's run, a
worker's job) keeps its pod after `forget`, as Argo Workflows keeps a workflow's pods, so
`kubectl logs` and the SDK still read it; the pod's owner reference lets Kubernetes' garbage
collector delete it with that object, also when it is deleted while no operator runs. A
workload without an owner has its pod deleted by `forget`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from mlkube.runtime.base import ExitHandler, NodeInfo, Usage, WorkloadExit, WorkloadSpec
from mlkube.runtime.kubernetes.cluster_node import cluster_node
from mlkube.runtime.kubernetes.pod_api import PodApi, status_message
from mlkube.runtime.kubernetes.pod_exits import pod_exit, pod_finished
from mlkube.runtime.kubernetes.pod_metrics import (
    DEFAULT_SAMPLE_SECONDS,
    PodMetricsSampler,
    WatchedPod,
    list_pod_metrics,
)
from mlkube.runtime.kubernetes.pod_watch import Pod, PodWatch
from mlkube.runtime.kubernetes.raw import json_of
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL, workload_id_of, workload_pod

__all__ = ["KubernetesRuntime", "namespace_in_id"]

log = logging.getLogger("mlkube.runtime.kubernetes")
_REPLACE_TRIES = 50  # x 0.1 s: how long a leftover pod of the same name may take to go


def namespace_in_id(workload_id: str) -> str:
    """The namespace a workload id names: its first part (`ns/run/uid/step/attempt`)."""
    return workload_id.split("/", 1)[0]


@dataclass
class _Workload:
    """What the runtime knows of one launched workload."""

    spec: WorkloadSpec
    namespace: str
    pod: dict[str, Any]
    created: bool = False  # the pod exists (we created or adopted it)
    stopped: bool = False
    grace_seconds: float = 0.0
    exit: WorkloadExit | None = None  # decided; queued for delivery
    delivered: bool = False
    ignored_uids: set[str] = field(default_factory=set)  # leftover pods of the same name

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])


class KubernetesRuntime:
    """A `Runtime` whose workloads are pods of one cluster (see the module docstring).
    Thread-safe. The caller owns `api_client` and closes it after `close()`."""

    def __init__(
        self,
        api_client: ApiClient,
        settings: ClusterSettings | None = None,
        *,
        namespace_of: Callable[[str], str] = namespace_in_id,
        clock: Callable[[], float] = time.time,
        sample_seconds: float = DEFAULT_SAMPLE_SECONDS,
    ) -> None:
        """`sample_seconds`: how often the pods' metrics are read (see `pod_metrics`)."""
        self._core = CoreV1Api(api_client)
        self._pods = PodApi(self._core)
        self._metrics = PodMetricsSampler(
            list_pod_metrics(api_client), self._watched_pods, sample_seconds=sample_seconds
        )
        self._settings = settings or ClusterSettings()
        self._namespace_of = namespace_of
        self._clock = clock
        self._lock = threading.Lock()
        self._workloads: dict[str, _Workload] = {}
        self._handler: ExitHandler | None = None
        self._handler_set = threading.Event()
        self._closed = False
        self._requests: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._exits: queue.Queue[WorkloadExit | None] = queue.Queue()
        self._watch = PodWatch(
            self._core, WORKLOAD_LABEL, on_pod=self._observe, on_list=self._listed
        )
        self._threads = [
            threading.Thread(target=self._work, name="mlkube-kube-requests", daemon=True),
            threading.Thread(target=self._deliver, name="mlkube-kube-exits", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._watch.start()
        self._metrics.start()

    # -- the Runtime protocol ---------------------------------------------------------------

    def node(self) -> NodeInfo:
        """The cluster's schedulable, Ready nodes summed into one (one GET of the Nodes)."""
        response = self._core.list_node(_preload_content=False)
        nodes = json_of(response).get("items") or []
        return cluster_node(nodes, groups=self._settings.node_groups)

    def launch(self, spec: WorkloadSpec) -> int:
        """Create the workload's pod before returning; always 0 (no local process)."""
        workload = self._register(spec)
        if workload is not None:
            self._create(workload)
        return 0

    def start(self, spec: WorkloadSpec) -> None:
        """`launch`, with the pod created on the runtime's worker thread."""
        workload = self._register(spec)
        if workload is not None:
            self._requests.put(lambda: self._create(workload))

    def stop(self, id: str, *, grace_seconds: float) -> None:
        """Delete the workload's pod with `grace_seconds` (SIGTERM, then SIGKILL by the
        kubelet); its exit arrives as `Killed` once the pod is gone or has ended."""
        with self._lock:
            workload = self._workloads.get(id)
            if workload is None or workload.exit is not None or workload.stopped:
                return
            workload.stopped, workload.grace_seconds = True, grace_seconds
            created = workload.created
        if created:  # else `_create` sees the stop and creates nothing
            self._requests.put(lambda: self._delete(workload))

    def set_exit_handler(self, handler: ExitHandler) -> None:
        """See `Runtime.set_exit_handler`; exits found before it was set are delivered now."""
        with self._lock:
            self._handler = handler
        self._handler_set.set()

    def running(self) -> set[str]:
        with self._lock:
            return {id for id, w in self._workloads.items() if not w.delivered}

    def usage(self, id: str) -> Usage | None:
        """See `Runtime.usage`: the pod's samples from the metrics API (`pod_metrics`), also
        None before its first sample and on a cluster without that API."""
        with self._lock:
            workload = self._workloads.get(id)
            ended = workload is not None and workload.exit is not None
        return None if workload is None else self._metrics.usage(id, ended=ended)

    def forget(self, id: str) -> None:
        """Drop a delivered workload; delete its finished pod unless the spec has an owner
        (then the pod stays, for its log, until the garbage collector deletes it with it)."""
        with self._lock:
            workload = self._workloads.get(id)
            if workload is None or not workload.delivered:
                return
            del self._workloads[id]
        if workload.spec.owner is None:
            self._requests.put(lambda: self._delete(workload))

    def close(self) -> None:
        """Stop watching and deliver the exits already found; running pods keep running.
        Idempotent; `launch` and `start` raise `RuntimeError` afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._watch.close()
        self._metrics.close()
        self._requests.put(None)
        self._exits.put(None)
        self._handler_set.set()  # no handler: the exits found are dropped with the runtime
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)

    # -- launching and stopping (worker thread) --------------------------------------------

    def _register(self, spec: WorkloadSpec) -> _Workload | None:
        """Record a new workload; None when the id is already known (idempotence)."""
        namespace = self._namespace_of(spec.id)
        pod = workload_pod(spec, namespace, self._settings)  # ValueError: cannot express it
        with self._lock:
            if self._closed:
                raise RuntimeError("KubernetesRuntime is closed")
            if spec.id in self._workloads:
                return None
            workload = _Workload(spec, namespace, pod)
            self._workloads[spec.id] = workload
        self._metrics.track(spec.id)
        return workload

    def _watched_pods(self) -> list[WatchedPod]:
        """What the metrics sampler reads: every known workload's pod, running or not."""
        with self._lock:
            return [
                WatchedPod(id, w.namespace, w.name, running=w.created and w.exit is None)
                for id, w in self._workloads.items()
            ]

    def _create(self, workload: _Workload) -> None:
        if self._stopped_before_creation(workload):
            return
        try:
            self._pods.create(workload.pod)
        except ApiException as err:
            if err.status != 409 or not self._adopt_or_replace(workload):
                self._decide(workload, _launch_failed(workload, status_message(err), self._clock()))
                return
        except Exception as err:  # refused by the client itself, or the server unreachable
            self._decide(workload, _launch_failed(workload, str(err), self._clock()))
            return
        with self._lock:
            workload.created = True
            stopped = workload.stopped
        if stopped:  # stopped while the create was in flight
            self._delete(workload)

    def _stopped_before_creation(self, workload: _Workload) -> bool:
        with self._lock:
            stopped = workload.stopped
        if stopped:
            message = "stopped before its pod was created"
            self._decide(
                workload,
                WorkloadExit(workload.spec.id, None, None, "Killed", message, self._clock()),
            )
        return stopped

    def _adopt_or_replace(self, workload: _Workload) -> bool:
        """A pod of that name exists: adopt it if it runs this workload, else replace a
        finished one of ours. False when neither works (another owner's pod, or it stays)."""
        existing = self._pods.read(workload.namespace, workload.name)
        if existing is None or workload_id_of(existing) != workload.spec.id:
            return existing is None and self._create_again(workload)
        terminating = existing["metadata"].get("deletionTimestamp")
        if not pod_finished(existing) and not terminating:
            log.info(
                "adopting running pod %s/%s of %s",
                workload.namespace,
                workload.name,
                workload.spec.id,
            )
            return True
        with self._lock:
            workload.ignored_uids.add(str(existing["metadata"].get("uid")))
        self._pods.delete(workload.namespace, workload.name, grace_seconds=1)
        return self._create_again(workload)

    def _create_again(self, workload: _Workload) -> bool:
        for _ in range(_REPLACE_TRIES):
            try:
                self._pods.create(workload.pod)
                return True
            except ApiException as err:
                if err.status != 409:
                    return False
            time.sleep(0.1)
        return False

    def _delete(self, workload: _Workload) -> None:
        gone = self._pods.delete(
            workload.namespace, workload.name, grace_seconds=workload.grace_seconds
        )
        with self._lock:
            undecided = workload.exit is None
        if gone and undecided:  # deleted before the watch saw it: it is stopped all the same
            self._observe(workload.pod, True)

    def _work(self) -> None:
        while True:
            request = self._requests.get()
            if request is None:
                return
            try:
                request()
            except Exception:  # one failed request must never stop the others
                log.exception("a pod request failed")

    # -- observing (watch thread) ----------------------------------------------------------

    def _observe(self, pod: Pod, deleted: bool) -> None:
        """A state of one of our pods: decide its exit if it is over."""
        wid = workload_id_of(pod)
        if wid is None:
            return
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        with self._lock:
            workload = self._workloads.get(wid)
            if workload is None or workload.exit is not None or uid in workload.ignored_uids:
                return
            stopped = workload.stopped
        found = pod_exit(wid, pod, deleted=deleted, stopped=stopped, finished_at=self._clock())
        if found is not None:
            self._decide(workload, found)

    def _listed(self, pods: list[Pod]) -> None:
        """After a (re)list: pods we created that are no longer there ended unseen."""
        present = {workload_id_of(p) for p in pods}
        for pod in pods:
            self._observe(pod, False)
        with self._lock:
            missing = [
                w
                for id, w in self._workloads.items()
                if w.created and w.exit is None and id not in present
            ]
        for workload in missing:
            self._observe(workload.pod, True)

    def _decide(self, workload: _Workload, exit_: WorkloadExit) -> None:
        """Queue `exit_` for delivery unless an exit was already decided (exactly once)."""
        with self._lock:
            if workload.exit is not None:
                return
            workload.exit = exit_
        self._exits.put(exit_)

    # -- delivering (delivery thread) ------------------------------------------------------

    def _deliver(self) -> None:
        self._handler_set.wait()
        while True:
            exit_ = self._exits.get()
            if exit_ is None:
                return
            with self._lock:
                workload = self._workloads.get(exit_.id)
                handler = self._handler
                if workload is not None:
                    # Before the call: a handler may forget the id at once (see `forget`).
                    workload.delivered = True
            if handler is None:
                return  # closed before any handler was set
            if workload is not None:
                self._copy_log(workload)
            try:
                handler(exit_)
            except Exception:
                log.exception("the exit handler failed on %s", exit_.id)

    def _copy_log(self, workload: _Workload) -> None:
        """Append the pod's log to the spec's `log_path`, where `mlkube logs` reads it."""
        if not workload.created:
            return
        try:
            data = self._pods.log(workload.namespace, workload.name)
            with open(workload.spec.log_path, "ab") as out:
                out.write(data)
        except (ApiException, OSError) as err:
            log.debug("no log copied for %s: %s", workload.spec.id, err)


def _launch_failed(workload: _Workload, detail: str, now: float) -> WorkloadExit:
    message = f"cannot create pod {workload.namespace}/{workload.name}: {detail}"
    return WorkloadExit(workload.spec.id, None, None, "LaunchFailed", message, now)
