"""The operator: the same controllers as `mlkube up`, against a kube-apiserver.

    platform = OperatorPlatform(configuration, data_dir=Path("/tmp/mlkube"))
    platform.start()      # store and runtime over the API server, controllers, health server
    ...
    platform.stop()

What it is made of: `KubernetesStore` (our kinds as custom resources, through the official
client), `KubernetesRuntime` (one Pod per step attempt), the `ControllerManager` in cluster
mode (see its docstring for what Kubernetes does instead of us), and a health server:
`GET /healthz` answers 200 while the process runs, `GET /readyz` 200 once the controllers
run (503 before and while stopping), as the operator's Deployment probes them (port 8081).

Not built: leader election. Run ONE replica (the Deployment `mlkube install --kubernetes`
prints has `replicas: 1`); two would both start every step.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, Configuration

from mlkube.api.clock import Clock, SystemClock
from mlkube.controllers.manager import ControllerManager
from mlkube.controllers.serving_cluster import SERVING_RESOURCES
from mlkube.install.operator import HEALTH_PORT
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.storage.layout import DataDir
from mlkube.store.kube_http import default_resources
from mlkube.store.kubernetes import KubernetesStore

__all__ = ["OperatorPlatform"]

log = logging.getLogger("mlkube.operator")


class OperatorPlatform:
    """The controllers of one cluster (see the module docstring). `configuration` says how
    to reach the API server; the platform makes and closes its own `ApiClient`s."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        data_dir: Path,
        settings: ClusterSettings | None = None,
        health_host: str = "0.0.0.0",
        health_port: int = HEALTH_PORT,
        clock: Clock | None = None,
    ) -> None:
        self.configuration = configuration
        self.data = DataDir(data_dir)
        self.settings = settings or ClusterSettings()
        self.clock = clock or SystemClock()
        self._ready = threading.Event()
        self._clients: list[ApiClient] = []
        self._health = _health_server(health_host, health_port, self._ready)
        self._health_thread: threading.Thread | None = None
        self.manager: ControllerManager | None = None

    @property
    def health_port(self) -> int:
        """The health server's port (the one picked when 0 was asked for)."""
        return int(self._health.server_address[1])

    def start(self) -> None:
        """Serve health at once, then connect and start the controllers; ready after that."""
        self._health_thread = threading.Thread(
            target=self._health.serve_forever, name="mlkube-health", daemon=True
        )
        self._health_thread.start()
        self.data.root.mkdir(parents=True, exist_ok=True)
        # Separate clients: the runtime's pod watch holds a connection open for minutes.
        resources = {**default_resources(), **SERVING_RESOURCES}
        self.store = KubernetesStore(self._client(), resources=resources)
        self.runtime = KubernetesRuntime(self._client(), self.settings)
        self.manager = ControllerManager(
            self.store,
            self.runtime,
            data=self.data,
            clock=self.clock,
            cluster=True,
            settings=self.settings,
        )
        self.manager.start()
        self._ready.set()
        log.info("operator running against %s", self.configuration.host)

    def stop(self) -> None:
        """Stop the controllers and the watches; running pods are left running (a restarted
        operator adopts them). Idempotent."""
        self._ready.clear()
        if self.manager is not None:
            self.manager.stop()
            self.manager = None
        if hasattr(self, "runtime"):
            self.runtime.close()
        if hasattr(self, "store"):
            self.store.close()
        for api_client in self._clients:
            api_client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        if self._health_thread is not None:  # shutdown() waits for a serve_forever loop
            self._health.shutdown()
            self._health_thread = None
        self._health.server_close()

    def _client(self) -> ApiClient:
        api_client = ApiClient(self.configuration)
        self._clients.append(api_client)
        return api_client


def _health_server(host: str, port: int, ready: threading.Event) -> ThreadingHTTPServer:
    """`/healthz` (alive) and `/readyz` (controllers running) as plain-text 200 / 503."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, "ok")
            elif self.path == "/readyz":
                is_ready = ready.is_set()
                self._answer(200 if is_ready else 503, "ok" if is_ready else "starting")
            else:
                self._answer(404, "not found")

        def _answer(self, code: int, text: str) -> None:
            body = f"{text}\n".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not news."""

    server = ThreadingHTTPServer((host, port), Health)
    server.daemon_threads = True
    return server
