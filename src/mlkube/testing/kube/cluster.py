"""`FakeKubeCluster`: the fake kube-apiserver with its controllers and kubelet, and
`fake_kube_cluster`, the context manager tests use."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from mlkube.testing.kube.collector import GarbageCollector
from mlkube.testing.kube.deployments import DeploymentController
from mlkube.testing.kube.jobs import JobController
from mlkube.testing.kube.kubelet import FakeKubelet
from mlkube.testing.kube.loop import ReconcileLoop
from mlkube.testing.kube.metrics import FakePodMetrics
from mlkube.testing.kube.resources import POD
from mlkube.testing.kube.scheduling import FakeNode
from mlkube.testing.kube.server import FakeKubeApiServer
from mlkube.testing.kube.validation import DEFAULT_KUBERNETES_VERSION
from mlkube.testing.kube.writes import create_object
from mlkube.testing.lifecycle import StartStop

CONTROLLERS = ("kubelet", "jobs", "deployments", "garbage-collector")
DEFAULT_NODES = (FakeNode("fake-node-1"),)


class FakeKubeCluster(StartStop):
    """A fake cluster in this process: API server on loopback plus the `controllers` named
    (any of `CONTROLLERS`; leave one out to drive its part of the cluster from a test).

    Files (pods' folders and logs, the kubeconfig) go under `workdir`. `metrics_api`: serve
    the resource metrics API (`metrics`: PodMetrics of the kubelet's processes), as a cluster
    with metrics-server does; without it that API is a 404, as on a cluster without one.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: Sequence[FakeNode] = DEFAULT_NODES,
        controllers: Collection[str] = CONTROLLERS,
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        event_retention: int = 10000,
        metrics_api: bool = True,
    ) -> None:
        unknown = set(controllers) - set(CONTROLLERS)
        if unknown:
            raise ValueError(
                f"unknown controllers {sorted(unknown)}; choose from {list(CONTROLLERS)}"
            )
        self.workdir = workdir
        self.kubeconfig_path = workdir / "kubeconfig"
        self._nodes = list(nodes)
        self._controllers = set(controllers)
        self.kubelet: FakeKubelet | None = None
        self.server = FakeKubeApiServer(
            kubernetes_version=kubernetes_version,
            event_retention=event_retention,
            pod_log=self._pod_log,
        )
        self.store = self.server.store
        if metrics_api:
            self.server.pod_metrics = FakePodMetrics(self.store, self._pod_pid)
        self._loops: list[ReconcileLoop] = []

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def webhook_services(self) -> dict[str, str]:
        """Where webhooks' Services are: `"NAME.NAMESPACE:PORT"` → `https://127.0.0.1:PORT`
        (a test sets entries; see `webhooks`)."""
        return self.server.context.webhooks.services

    def _pod_log(self, namespace: str, name: str) -> Path | None:
        return None if self.kubelet is None else self.kubelet.log_path(namespace, name)

    def _pod_pid(self, uid: str) -> int | None:
        return None if self.kubelet is None else self.kubelet.process_id(uid)

    def start(self) -> None:
        """Serve, write the kubeconfig, register the nodes and start the controllers."""
        self.server.start()
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.url)))

        def create_pod(pod: dict[str, Any]) -> dict[str, Any]:
            return create_object(self.server.context, POD, pod)

        if "kubelet" in self._controllers:
            self.kubelet = FakeKubelet(
                self.store,
                nodes=self._nodes,
                workdir=self.workdir / "pods",
                api_url=self.url,
                kubernetes_version=self.server.kubernetes_version,
            )
            self._loops.append(
                ReconcileLoop(self.store, [self.kubelet.reconcile], name="fake-kubelet")
            )
        workloads = []
        if "jobs" in self._controllers:
            workloads.append(JobController(self.store, create_pod=create_pod).reconcile)
        if "deployments" in self._controllers:
            workloads.append(DeploymentController(self.store, create_pod=create_pod).reconcile)
        if workloads:
            self._loops.append(
                ReconcileLoop(self.store, workloads, name="fake-controllers", interval=0.2)
            )
        if "garbage-collector" in self._controllers:
            collector = GarbageCollector(self.store)
            self._loops.append(
                ReconcileLoop(
                    self.store,
                    [collector.reconcile],
                    name="fake-gc",
                    interval=0.3,
                    wake_on_writes=False,
                )
            )
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        """Stop the controllers, kill every pod process, stop serving. Idempotent."""
        for loop in self._loops:
            loop.stop()
        self._loops.clear()
        if self.kubelet is not None:
            self.kubelet.shutdown()
        self.server.stop()

    def add_node(self, node: FakeNode) -> None:
        """A node joins the running cluster (its Node object is created Ready); needs the
        kubelet."""
        if self.kubelet is None:
            raise ValueError("add_node needs the fake kubelet (controllers include 'kubelet')")
        self.kubelet.add_node(node)

    def configuration(self) -> client.Configuration:
        """An official-client `Configuration` for this cluster."""
        configuration = client.Configuration()
        configuration.host = self.url
        return configuration

    def api_client(self) -> client.ApiClient:
        """A new official `ApiClient` for this cluster; the caller closes it."""
        return client.ApiClient(self.configuration())


def kubeconfig(url: str) -> dict[str, Any]:
    """A kubeconfig for `url` (plain HTTP, no credentials) that kubectl and
    `kubernetes.config.load_kube_config` both read."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake-admin", "user": {}}],
        "contexts": [
            {
                "name": "fake",
                "context": {"cluster": "fake", "user": "fake-admin", "namespace": "default"},
            }
        ],
        "current-context": "fake",
        "preferences": {},
    }


@contextlib.contextmanager
def fake_kube_cluster(
    tmp_path: Path,
    *,
    nodes: Sequence[FakeNode] = DEFAULT_NODES,
    controllers: Collection[str] = CONTROLLERS,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    event_retention: int = 10000,
    metrics_api: bool = True,
) -> Iterator[FakeKubeCluster]:
    """A started `FakeKubeCluster` working under `tmp_path`, stopped on exit."""
    cluster = FakeKubeCluster(
        tmp_path,
        nodes=nodes,
        controllers=controllers,
        kubernetes_version=kubernetes_version,
        event_retention=event_retention,
        metrics_api=metrics_api,
    )
    with cluster:
        yield cluster
