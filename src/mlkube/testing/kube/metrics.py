"""The fake cluster's resource metrics API: `metrics.k8s.io/v1beta1` PodMetrics, as
metrics-server serves it (what `kubectl top pod` and the `KubernetesRuntime` read).

    GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[?labelSelector=...]   PodMetricsList
    GET /apis/metrics.k8s.io/v1beta1/pods[?labelSelector=...]                 every namespace
    GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods/NAME                  PodMetrics

THE VALUES ARE THIS MACHINE'S LOCAL PROCESSES': a pod's metrics are those of the process
tree the fake kubelet runs for its first container (the only one it runs). CPU is the growth
of the tree's CPU time (user + system, reaped children included) over the `window` since the
pod's previous reading (its first reading: since the process started), in nanocores; memory
is the sum of the tree's RSS (metrics-server reports the cgroup's working set; there is no
cgroup here), in `Ki`. As metrics-server scrapes at a resolution and serves the latest
scrape, a pod is read again at most once per `resolution_seconds` (1 s): reads in between
get the same object, with the same `timestamp`. Pods without a running process (pending,
finished, restarting) have no metrics, as on a cluster. NodeMetrics are not served.

The API is served only when the cluster is made with it (`metrics_api=True`, the default);
without it every path below the group is a 404, as on a cluster without metrics-server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlkube.api.errors import NotFound
from mlkube.runtime.local.usage import measure_tree, process_tree
from mlkube.server.discovery import group_entry
from mlkube.server.errors import any_error_response, route_not_found
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import POD

__all__ = ["METRICS_GROUP", "METRICS_VERSION", "FakePodMetrics", "go_duration", "metrics_routes"]

METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{METRICS_GROUP}/{METRICS_VERSION}"
RESOLUTION_SECONDS = 1.0  # at least 1 s: timestamps have second precision, as metav1.Time

PidOf = Callable[[str], int | None]
"""A pod's uid → the pid of its running container process, or None (the fake kubelet's)."""


@dataclass
class _Reading:
    """The latest reading of one pod's process tree, served until it is `resolution` old."""

    process: psutil.Process
    at: float  # monotonic
    cpu_seconds: float
    item: dict[str, Any]


class FakePodMetrics:
    """PodMetrics of the pods in `store`, read from their processes (see the module doc).
    Thread-safe."""

    def __init__(
        self,
        store: ResourceStore,
        pid_of: PidOf,
        *,
        resolution_seconds: float = RESOLUTION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pid_of = pid_of
        self._resolution = resolution_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._readings: dict[str, _Reading] = {}  # by pod uid

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """The pod's PodMetrics; `NotFound` when the pod does not exist or runs nothing."""
        pods, _ = self._store.list(POD.resource, namespace)
        for pod in pods:
            if pod["metadata"]["name"] == name:
                item = self._item(pod)
                if item is not None:
                    return item
        raise NotFound(f'podmetrics.{METRICS_GROUP} "{name}" not found', name=name)

    def list(self, namespace: str | None, label_selector: str | None) -> dict[str, Any]:
        """The PodMetricsList of the running pods matching `label_selector` (`BadRequest`
        for a bad one) in `namespace`, or in every namespace when it is None."""
        pods, _ = self._store.list(POD.resource, namespace, label_selector=label_selector)
        items = [item for pod in pods if (item := self._item(pod)) is not None]
        return {
            "kind": "PodMetricsList",
            "apiVersion": GROUP_VERSION,
            "metadata": {},
            "items": items,
        }

    def _item(self, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        uid = pod["metadata"]["uid"]
        pid = self._pid_of(uid)
        with self._lock:
            previous = self._readings.get(uid)
            if pid is None or (previous is not None and previous.process.pid != pid):
                self._readings.pop(uid, None)  # gone, or a restarted container: start again
                previous = None
            if pid is None:
                return None
            if previous is not None and self._clock() - previous.at < self._resolution:
                return previous.item
            reading = self._read(pod, pid, previous)
            if reading is None:
                return None
            self._readings[uid] = reading
            return reading.item

    def _read(self, pod: Mapping[str, Any], pid: int, previous: _Reading | None) -> _Reading | None:
        """A new reading of the pod's process tree; None when the process is already gone."""
        try:
            process = previous.process if previous is not None else psutil.Process(pid)
            started = process.create_time()
        except psutil.Error:
            return None
        now = self._clock()
        cpu_seconds, rss = measure_tree(process_tree(process))
        if previous is not None:
            window, used = now - previous.at, cpu_seconds - previous.cpu_seconds
        else:  # the first reading: since the process started (wall clock, as psutil says)
            window, used = max(time.time() - started, 1e-3), cpu_seconds
        cores = max(0.0, used / window) if window > 0 else 0.0
        item = _pod_metrics(pod, cores=cores, memory_bytes=rss, window=window)
        return _Reading(process, now, cpu_seconds, item)


def _pod_metrics(
    pod: Mapping[str, Any], *, cores: float, memory_bytes: int, window: float
) -> dict[str, Any]:
    """A PodMetrics object in metrics-server's form (nanocores, `Ki`, a Go duration)."""
    meta = pod["metadata"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    container = pod["spec"]["containers"][0]["name"]
    memory = f"{memory_bytes // 1024}Ki" if memory_bytes % 1024 == 0 else str(memory_bytes)
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": stamp,
            "labels": dict(meta.get("labels") or {}),
        },
        "timestamp": stamp,
        "window": go_duration(window),
        "containers": [
            {"name": container, "usage": {"cpu": f"{round(cores * 1e9)}n", "memory": memory}}
        ],
    }


def go_duration(seconds: float) -> str:
    """`seconds` as Go's `time.Duration` prints it, to the millisecond (`15.011s`, `1m0.5s`)."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


def api_group() -> dict[str, Any]:
    """The group's entry as `/apis` lists it (without kind and apiVersion)."""
    return group_entry(METRICS_GROUP, [METRICS_VERSION])


def api_resource_list() -> dict[str, Any]:
    """`GET /apis/metrics.k8s.io/v1beta1`, as metrics-server answers it, less NodeMetrics."""
    pods = {
        "name": "pods",
        "singularName": "",
        "namespaced": True,
        "kind": "PodMetrics",
        "verbs": ["get", "list"],
    }
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [pods],
    }


def metrics_routes(metrics: FakePodMetrics) -> list[Route]:
    """The routes of the metrics group, to be placed before the generic `/apis/...` ones."""

    async def group(request: Request) -> Response:
        return JSONResponse({"kind": "APIGroup", "apiVersion": "v1", **api_group()})

    async def resources(request: Request) -> Response:
        return JSONResponse(api_resource_list())

    async def pods(request: Request) -> Response:
        try:
            selector = request.query_params.get("labelSelector") or None
            return JSONResponse(metrics.list(request.path_params.get("namespace"), selector))
        except Exception as err:
            return any_error_response(err)

    async def pod(request: Request) -> Response:
        try:
            params = request.path_params
            return JSONResponse(metrics.get(params["namespace"], params["name"]))
        except Exception as err:
            return any_error_response(err)

    async def not_served(request: Request) -> Response:
        return any_error_response(route_not_found())  # NodeMetrics, anything else below

    base = f"/apis/{GROUP_VERSION}"
    get = ["GET"]
    return [
        Route(f"/apis/{METRICS_GROUP}", group, methods=get),
        Route(f"/apis/{METRICS_GROUP}/", group, methods=get),
        Route(base, resources, methods=get),
        Route(f"{base}/", resources, methods=get),
        Route(f"{base}/pods", pods, methods=get),
        Route(f"{base}/namespaces/{{namespace}}/pods", pods, methods=get),
        Route(f"{base}/namespaces/{{namespace}}/pods/{{name}}", pod, methods=get),
        Route(f"{base}/{{path:path}}", not_served, methods=get),
    ]
