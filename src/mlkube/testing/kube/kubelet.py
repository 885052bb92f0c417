"""`FakeKubelet`: the fake cluster's scheduler and kubelet, one level-triggered reconcile.

Each `reconcile()` binds pending pods to fake nodes (first fit, `scheduling.place`), runs
each bound pod's first container as a local process (`processes.start`), and moves pods
through their phases as those processes run and exit:

    Pending (PodScheduled False, Unschedulable, while nothing fits)
    → Running (containerStatuses[0].state.running; Ready once the readiness probe's
      httpGet answers 2xx/3xx, or at once without an httpGet probe)
    → Succeeded / Failed (state.terminated with exitCode and reason Completed / Error)

`restartPolicy: Always` (and `OnFailure` after a failure) restarts the process in place,
counting `restartCount`. While a process runs, its pod carries the finalizer `FINALIZER`, so
that deleting the pod leaves it Terminating: the kubelet sends SIGTERM to the process group,
SIGKILL after `terminationGracePeriodSeconds`, then drops the finalizer and the pod goes
(once any other finalizers are gone too).

Volumes: before each pass the `FakeProvisioner` binds PersistentVolumeClaims to local folders
(under `volumes_dir`). A pod whose claims are missing or unbound stays Pending
(`Unschedulable`, naming the claim), as kube-scheduler keeps it. Nothing is mounted: the
process is given each claim's folder wherever the pod names its `mountPath` (at the start of
an env value, a command or args word, or the workingDir), so a step told
`MLKUBE_VOLUME_WORK=/mnt/work` sees the folder. A path the program builds itself from a mount
path is not rewritten: that is the fake's limit.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlkube.api.errors import ApiError, NotFound
from mlkube.store.base import ResourceStore
from mlkube.testing.kube import podstatus, processes
from mlkube.testing.kube.resources import NODE, POD
from mlkube.testing.kube.scheduling import FakeNode, place
from mlkube.testing.kube.volumes import (
    FakeProvisioner,
    claims_of,
    mount_paths,
    with_local_mounts,
)

log = logging.getLogger(__name__)

FINALIZER = "kubelet.fake.mlkube.io/process"
RESTART_DELAY = 1.0  # seconds before a restarted container runs again (CrashLoopBackOff, short)
PROBE_INTERVAL = 0.2
TERMINAL = ("Succeeded", "Failed")


@dataclass
class _Container:
    """What the kubelet knows of one pod's running (or restarting) process."""

    uid: str
    namespace: str
    name: str
    process: processes.Process | None
    started_at: str
    restarts: int = 0
    ready: bool = False
    next_probe: float = 0.0
    restart_at: float | None = None
    kill_at: float | None = None
    last_exit: dict[str, Any] | None = None


class FakeKubelet:
    """Schedules and runs the pods of `store` on `nodes` (see the module doc). Thread-safe
    only for one reconciling thread; `shutdown` kills every process it started."""

    def __init__(
        self,
        store: ResourceStore,
        *,
        nodes: Sequence[FakeNode],
        workdir: Path,
        api_url: str = "",
        kubernetes_version: str = "1.30",
        volumes_dir: Path | None = None,
    ) -> None:
        """`volumes_dir` holds the claims' folders (default `workdir/_volumes`: no namespace
        folder can be named so)."""
        self._store = store
        self.volumes = FakeProvisioner(store, volumes_dir or workdir / "_volumes")
        self._nodes = list(nodes)
        self._workdir = workdir
        self._containers: dict[str, _Container] = {}
        self._logs: dict[tuple[str, str], Path] = {}
        self._base_env = dict(os.environ)
        if api_url:
            host_port = api_url.split("://", 1)[1]
            host, _, port = host_port.partition(":")
            self._base_env.update(KUBERNETES_SERVICE_HOST=host, KUBERNETES_SERVICE_PORT=port)
        self._kubernetes_version = kubernetes_version
        for node in self._nodes:
            self._register(node.to_object(kubernetes_version))

    def _register(self, node: dict[str, Any]) -> None:
        status = node.pop("status")
        stored = self._store.create(NODE.resource, node)
        stored["status"] = status
        self._store.update_status(NODE.resource, stored)

    def add_node(self, node: FakeNode) -> None:
        """Register one more node (as a node joining the cluster); pods may bind to it from
        the next pass on."""
        self._register(node.to_object(self._kubernetes_version))
        self._nodes = [*self._nodes, node]

    def log_path(self, namespace: str, name: str) -> Path | None:
        """The log file of the pod's latest process, or None if none was started."""
        return self._logs.get((namespace, name))

    def process_id(self, uid: str) -> int | None:
        """The pid of the pod's running container process, or None (none started, restarting,
        or gone). Safe to call from any thread (one read of the kubelet's table)."""
        container = self._containers.get(uid)
        process = container.process if container is not None else None
        return process.popen.pid if process is not None else None

    def reconcile(self) -> None:
        """One pass over every pod: schedule, start, observe, terminate."""
        pods, _ = self._store.list(POD.resource)
        try:
            self.volumes.reconcile(pods)
        except ApiError as err:  # a conflict: the next pass binds it
            log.debug("volumes: %s", err)
        live = {p["metadata"]["uid"] for p in pods}
        for uid in [u for u in self._containers if u not in live]:
            self._kill_orphan(self._containers.pop(uid))  # removed without the kubelet's say
        nodes = [
            n
            for n in self._store.list(NODE.resource)[0]
            if n["metadata"]["name"] in self._node_names()
        ]
        for pod in pods:
            try:
                self._reconcile_pod(pod, nodes, pods)
            except (ApiError, OSError) as err:
                # A conflict or a vanished pod is retried on the next pass; nothing is lost.
                log.debug("pod %s: %s", pod["metadata"]["name"], err)

    def _node_names(self) -> set[str]:
        return {n.name for n in self._nodes}

    def _reconcile_pod(
        self, pod: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]]
    ) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase", "Pending")
        container = self._containers.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            self._terminate(pod, container)
        elif not spec.get("nodeName"):
            if phase not in TERMINAL:
                self._schedule(pod, nodes, pods)
        elif spec["nodeName"] not in self._node_names() or phase in TERMINAL:
            return
        elif container is None:
            self._start(pod)
        else:
            self._observe(pod, container)

    # ---- scheduling ---------------------------------------------------------------------

    def _schedule(
        self, pod: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]]
    ) -> None:
        unbound = self._unbound_claim(pod)
        if unbound:
            self._set_condition(pod, podstatus.condition("PodScheduled", "False", *unbound))
            return
        placement = place(pod, nodes, pods)
        if placement.node is None:
            unschedulable = ("PodScheduled", "False", "Unschedulable", placement.message)
            self._set_condition(pod, podstatus.condition(*unschedulable))
            return
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = placement.node
        self._set_condition(
            self._store.update(POD.resource, bound), podstatus.condition("PodScheduled", "True")
        )

    def _unbound_claim(self, pod: dict[str, Any]) -> tuple[str, str] | None:
        """(reason, message) of the first claim of `pod` not Bound, as kube-scheduler says it."""
        namespace = pod["metadata"]["namespace"]
        for claim in claims_of(pod):
            if self.volumes.bound_folder(namespace, claim) is None:
                exists = self._lookup("persistentvolumeclaims", namespace, claim) is not None
                detail = "unbound immediate" if exists else "missing"
                return (
                    "Unschedulable",
                    f"0/{len(self._nodes)} nodes are available: pod has {detail} "
                    f'PersistentVolumeClaims (persistentvolumeclaim "{claim}").',
                )
        return None

    def _set_condition(self, pod: dict[str, Any], condition: dict[str, Any]) -> None:
        conditions = podstatus.merge_conditions(pod, [condition])
        self._write_status(pod, {**(pod.get("status") or {}), "conditions": conditions})

    # ---- running ------------------------------------------------------------------------

    def _start(
        self, pod: dict[str, Any], restarts: int = 0, last_exit: dict[str, Any] | None = None
    ) -> None:
        meta = pod["metadata"]
        folder = self._workdir / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}"
        now = podstatus.now()
        try:
            process = processes.start(
                self._with_volumes(pod), folder, lookup=self._lookup, base_env=self._base_env
            )
        except processes.StartError as err:
            self._write_terminal(
                pod,
                _Container(meta["uid"], meta["namespace"], meta["name"], None, now),
                128,
                "StartError",
                str(err),
            )
            return
        self._logs[(meta["namespace"], meta["name"])] = process.log
        container = _Container(
            meta["uid"],
            meta["namespace"],
            meta["name"],
            process,
            now,
            restarts,
            last_exit=last_exit,
        )
        container.ready = not podstatus.http_probe(pod)
        self._containers[meta["uid"]] = container
        if FINALIZER not in (meta.get("finalizers") or []):
            marked = copy.deepcopy(pod)
            marked["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
            pod = self._store.update(POD.resource, marked)
        self._write_status(pod, self._running_status(pod, container))

    def _observe(self, pod: dict[str, Any], container: _Container) -> None:
        if container.process is None:
            if container.restart_at is not None and time.monotonic() >= container.restart_at:
                del self._containers[container.uid]
                self._start(pod, container.restarts + 1, container.last_exit)
            return
        code = container.process.exit_code()
        if code is None:
            if not container.ready and time.monotonic() >= container.next_probe:
                container.next_probe = time.monotonic() + PROBE_INTERVAL
                container.ready = podstatus.probe_passes(pod)
                if container.ready:
                    self._write_status(pod, self._running_status(pod, container))
            return
        self._exited(pod, container, code)

    def _exited(self, pod: dict[str, Any], container: _Container, code: int) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        reason = "Completed" if code == 0 else "Error"
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            container.last_exit = {
                "terminated": podstatus.terminated(code, reason, container.started_at)
            }
            container.process, container.ready = None, False
            container.restart_at = time.monotonic() + RESTART_DELAY
            status = self._running_status(pod, container)
            status["containerStatuses"][0]["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {RESTART_DELAY}s restarting failed container",
                }
            }
            self._write_status(pod, status)
            return
        del self._containers[container.uid]
        self._write_terminal(pod, container, code, reason, "")

    def _write_terminal(
        self, pod: dict[str, Any], container: _Container, code: int, reason: str, message: str
    ) -> None:
        status = self._running_status(pod, container)
        status["phase"] = "Succeeded" if code == 0 else "Failed"
        terminated = podstatus.terminated(code, reason, container.started_at)
        if message:
            terminated["message"] = message
        status["containerStatuses"][0].update(
            state={"terminated": terminated}, ready=False, started=False
        )
        status["conditions"] = podstatus.merge_conditions(
            pod,
            [
                podstatus.condition("Ready", "False", "PodCompleted"),
                podstatus.condition("ContainersReady", "False", "PodCompleted"),
            ],
        )
        pod = self._write_status(pod, status)
        self._drop_finalizer(pod)

    def _running_status(self, pod: dict[str, Any], container: _Container) -> dict[str, Any]:
        ready = "True" if container.ready else "False"
        first = pod["spec"]["containers"][0]
        state: dict[str, Any] = {"running": {"startedAt": container.started_at}}
        entry: dict[str, Any] = {
            "name": first["name"],
            "image": first.get("image", ""),
            "imageID": "",
            "containerID": f"fake://{container.process.popen.pid}" if container.process else "",
            "ready": container.ready,
            "started": container.process is not None,
            "restartCount": container.restarts,
            "state": state,
        }
        if container.last_exit:
            entry["lastState"] = container.last_exit
        conditions = [podstatus.condition(t, "True") for t in ("PodScheduled", "Initialized")]
        conditions += [
            podstatus.condition("ContainersReady", ready),
            podstatus.condition("Ready", ready),
        ]
        return {
            **(pod.get("status") or {}),
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": (pod.get("status") or {}).get("startTime") or container.started_at,
            "containerStatuses": [entry],
            "conditions": podstatus.merge_conditions(pod, conditions),
        }

    # ---- termination --------------------------------------------------------------------

    def _terminate(self, pod: dict[str, Any], container: _Container | None) -> None:
        process = container.process if container else None
        if container is not None and process is not None and process.exit_code() is None:
            now = time.monotonic()
            if container.kill_at is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
                container.kill_at = now + float(grace)
                process.signal(signal.SIGTERM)
            elif now >= container.kill_at:
                process.signal(signal.SIGKILL)
            return
        if container is not None:
            del self._containers[container.uid]
            if process is not None:
                process.popen.wait()
        self._drop_finalizer(pod)

    def _drop_finalizer(self, pod: dict[str, Any]) -> None:
        finalizers = pod["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            kept = copy.deepcopy(pod)
            kept["metadata"]["finalizers"] = [f for f in finalizers if f != FINALIZER]
            self._store.update(POD.resource, kept)

    def _kill_orphan(self, container: _Container) -> None:
        if container.process is not None:
            container.process.signal(signal.SIGKILL)
            container.process.popen.wait()

    def shutdown(self) -> None:
        """Kill every process this kubelet started and wait for them."""
        for container in list(self._containers.values()):
            self._kill_orphan(container)
        self._containers.clear()

    # ---- helpers ------------------------------------------------------------------------

    def _write_status(self, pod: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        candidate = copy.deepcopy(pod)
        candidate["status"] = status
        return self._store.update_status(POD.resource, candidate)

    def _with_volumes(self, pod: dict[str, Any]) -> dict[str, Any]:
        """`pod` as the process sees it: mount paths replaced by the claims' folders."""
        namespace = pod["metadata"]["namespace"]
        folders = {
            claim: folder
            for claim in claims_of(pod)
            if (folder := self.volumes.bound_folder(namespace, claim)) is not None
        }
        return with_local_mounts(pod, mount_paths(pod, folders)) if folders else pod

    def _lookup(self, resource: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return self._store.get(resource, namespace, name)
        except NotFound:
            return None
