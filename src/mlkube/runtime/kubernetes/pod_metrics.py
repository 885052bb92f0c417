"""Resource use of workload pods, read from the cluster's resource metrics API.

metrics-server (or any provider of `metrics.k8s.io/v1beta1`, as `kubectl top pod` reads)
serves a `PodMetrics` per running pod: each container's `usage.cpu` (cores, a rate over the
provider's `window`, commonly 15 s) and `usage.memory` (its working set). A workload's sample
is the SUM over the pod's containers, so the figures mean what the local runtime's do for a
process tree (`runtime.local.usage`):

    cpu_cores / memory_bytes        the latest sample (0 once the workload has exited)
    max_cpu_cores / max_memory_bytes the peaks among the samples
    avg_cpu_cores / avg_memory_bytes the means of the samples
    samples                         how many samples were folded in

Two differences with one machine, both from the source: there is no exact end figure (no
`wait4` rusage), so the means are of the samples and a peak between two samples is not seen;
and a workload that ends before the provider's first scrape of it (seconds) has no sample,
so its usage stays None rather than a misleading zero.

`UsageFold` is the pure part (a sample in, a new fold out: tested with tables).
`PodMetricsSampler` is the thin I/O loop: every `sample_seconds` one LIST per namespace that
has running workloads (label selector `mlkube.io/workload`), never one GET per pod. A cluster
that does not serve the API (404) is noted once at info and asked again only every
`absent_recheck_seconds`; any other failure is logged (warning once per streak) and the next
tick tries again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlkube.api.quantity import QuantityError, parse_quantity
from mlkube.runtime.base import Usage
from mlkube.runtime.kubernetes.raw import json_of
from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL
from mlkube.runtime.usage_figures import UsageAccumulator

__all__ = [
    "DEFAULT_SAMPLE_SECONDS",
    "METRICS_GROUP",
    "METRICS_VERSION",
    "PodMetricsSampler",
    "PodSample",
    "UsageFold",
    "WatchedPod",
    "list_pod_metrics",
    "parse_pod_metrics",
]

log = logging.getLogger("mlkube.runtime.kubernetes")

METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
DEFAULT_SAMPLE_SECONDS = 15.0  # metrics-server's own resolution: reading faster gains nothing
DEFAULT_ABSENT_RECHECK_SECONDS = 300.0

ListPodMetrics = Callable[[str], list[dict[str, Any]]]
"""namespace → the `PodMetrics` items of our workload pods there; raises `ApiException`."""


@dataclass(frozen=True)
class PodSample:
    """One `PodMetrics`, summed over its containers."""

    name: str
    timestamp: str
    cpu_cores: float
    memory_bytes: int


def parse_pod_metrics(item: Mapping[str, Any]) -> PodSample:
    """The sample a `PodMetrics` object holds. Raises `ValueError` naming the bad field."""
    name = (item.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name: missing")
    cpu, memory = Decimal(0), Decimal(0)
    for index, container in enumerate(item.get("containers") or []):
        usage = container.get("usage") or {}
        cpu += _quantity(usage, "cpu", f"containers[{index}].usage.cpu")
        memory += _quantity(usage, "memory", f"containers[{index}].usage.memory")
    return PodSample(name, str(item.get("timestamp") or ""), float(cpu), math.ceil(memory))


def _quantity(usage: Mapping[str, Any], key: str, field: str) -> Decimal:
    try:
        amount = parse_quantity(usage.get(key, 0))
    except QuantityError as err:
        raise ValueError(f"{field}: {err}") from None
    if amount < 0:
        raise ValueError(f"{field}: {usage[key]!r} must not be negative")
    return amount


@dataclass(frozen=True)
class UsageFold:
    """The samples of one workload folded so far, with the same arithmetic as on one machine
    (`UsageAccumulator`); immutable: `add` returns a new fold."""

    figures: UsageAccumulator = field(default_factory=UsageAccumulator)
    last_timestamp: str = ""

    def add(self, sample: PodSample) -> UsageFold:
        """Fold in `sample`; the same provider sample read twice (same `timestamp`, as when
        sampling faster than its resolution) counts once."""
        if sample.timestamp and sample.timestamp == self.last_timestamp:
            return self
        figures = replace(self.figures)  # scalars only: a copy keeps this fold unchanged
        figures.add(sample.cpu_cores, sample.memory_bytes)
        return UsageFold(figures, sample.timestamp)

    def usage(self, *, ended: bool) -> Usage | None:
        """The figures as a `Usage` (current ones 0 once `ended`); None without a sample."""
        if not self.figures.samples:
            return None
        usage = self.figures.snapshot()
        return replace(usage, cpu_cores=0.0, memory_bytes=0) if ended else usage


@dataclass(frozen=True)
class WatchedPod:
    """A workload the runtime knows: its pod, and whether it runs (is to be sampled)."""

    workload_id: str
    namespace: str
    pod_name: str
    running: bool


def list_pod_metrics(api_client: ApiClient) -> ListPodMetrics:
    """The LIST the sampler makes, through the official client's custom-objects API."""
    api = CustomObjectsApi(api_client)

    def in_namespace(namespace: str) -> list[dict[str, Any]]:
        response = api.list_namespaced_custom_object(
            METRICS_GROUP,
            METRICS_VERSION,
            namespace,
            "pods",
            label_selector=WORKLOAD_LABEL,
            _preload_content=False,
        )
        return list(json_of(response).get("items") or [])

    return in_namespace


class PodMetricsSampler:
    """Samples the running workloads' pods every `sample_seconds` and keeps each workload's
    `UsageFold` (see the module docstring). Thread-safe.

    `watched()` says which workloads the runtime knows (the folds of others are dropped);
    `track(id)` starts a workload afresh (an id launched again after `forget`). `tick()` is
    one round, called by the thread `start()` runs, or directly by a test.
    """

    def __init__(
        self,
        list_pods: ListPodMetrics,
        watched: Callable[[], list[WatchedPod]],
        *,
        sample_seconds: float = DEFAULT_SAMPLE_SECONDS,
        absent_recheck_seconds: float = DEFAULT_ABSENT_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sample_seconds > 0:
            raise ValueError(f"sample_seconds: must be above 0, not {sample_seconds!r}")
        self._list_pods = list_pods
        self._watched = watched
        self._sample_seconds = sample_seconds
        self._absent_recheck_seconds = absent_recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._folds: dict[str, UsageFold] = {}
        self._absent_until: float | None = None  # the API is absent: ask again from then
        self._failing = False  # within a streak of failed lists (warned once)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlkube-pod-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop sampling and wait for a tick in progress; idempotent. Folds stay readable."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def track(self, workload_id: str) -> None:
        """Start `workload_id` with no samples (dropping any fold of an earlier launch)."""
        with self._lock:
            self._folds.pop(workload_id, None)

    def usage(self, workload_id: str, *, ended: bool) -> Usage | None:
        """The workload's usage so far (see `UsageFold.usage`); None if never sampled."""
        with self._lock:
            fold = self._folds.get(workload_id)
        return None if fold is None else fold.usage(ended=ended)

    def tick(self) -> None:
        """One round: sample every running workload, unless the API is known to be absent
        and it is not yet time to ask again."""
        if self._absent_until is not None and self._clock() < self._absent_until:
            return
        watched = self._watched()
        self._drop_unknown({w.workload_id for w in watched})
        by_namespace: dict[str, dict[str, str]] = {}
        for pod in watched:
            if pod.running:
                by_namespace.setdefault(pod.namespace, {})[pod.pod_name] = pod.workload_id
        for namespace, workloads in sorted(by_namespace.items()):
            items = self._list(namespace)
            if items is None:
                return  # absent or failing: the other namespaces would fail alike
            self._fold(workloads, items)

    def _run(self) -> None:
        while not self._stop.wait(self._sample_seconds):
            try:
                self.tick()
            except Exception:  # a bug in one round must not end sampling
                log.exception("pod metrics: a sampling round failed")

    def _drop_unknown(self, known: set[str]) -> None:
        with self._lock:
            for workload_id in [w for w in self._folds if w not in known]:
                del self._folds[workload_id]

    def _list(self, namespace: str) -> list[dict[str, Any]] | None:
        """The namespace's PodMetrics, or None after noting why there are none."""
        try:
            items = self._list_pods(namespace)
        except ApiException as err:
            if err.status == 404:
                self._note_absent()
            else:
                self._note_failure(f"{err.status} {err.reason}")
            return None
        except Exception as err:  # the server unreachable, a body that is not JSON
            self._note_failure(str(err) or type(err).__name__)
            return None
        self._note_success()
        return items

    def _note_absent(self) -> None:
        if self._absent_until is None:
            log.info(
                "the cluster serves no resource metrics API (%s/%s, from metrics-server): "
                "step usage stays empty; asking again every %g s",
                METRICS_GROUP,
                METRICS_VERSION,
                self._absent_recheck_seconds,
            )
        self._absent_until = self._clock() + self._absent_recheck_seconds

    def _note_failure(self, detail: str) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "pod metrics: cannot list PodMetrics (%s); trying again", detail)
        self._failing = True

    def _note_success(self) -> None:
        if self._absent_until is not None:
            log.info("the resource metrics API (%s) is served now", METRICS_GROUP)
        elif self._failing:
            log.info("pod metrics: listing PodMetrics works again")
        self._absent_until, self._failing = None, False

    def _fold(self, workloads: Mapping[str, str], items: Iterable[Mapping[str, Any]]) -> None:
        """Fold each item naming one of `workloads` (pod name → workload id) into its fold."""
        for item in items:
            try:
                sample = parse_pod_metrics(item)
            except ValueError as err:
                log.debug("pod metrics: skipping a PodMetrics: %s", err)
                continue
            workload_id = workloads.get(sample.name)
            if workload_id is not None:
                with self._lock:
                    fold = self._folds.get(workload_id, UsageFold())
                    self._folds[workload_id] = fold.add(sample)
