"""`FakeKubeApiServer`: the fake kube-apiserver served over plain HTTP on loopback, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from mlkube.api.clock import SystemClock
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.app import create_app
from mlkube.testing.kube.context import FakeApiContext
from mlkube.testing.kube.metrics import FakePodMetrics
from mlkube.testing.kube.resources import NAMESPACE
from mlkube.testing.kube.validation import DEFAULT_KUBERNETES_VERSION
from mlkube.testing.lifecycle import StartStop
from mlkube.testing.memory_store import MemoryStore

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class FakeKubeApiServer(StartStop):
    """A kube-apiserver stand-in on `http://127.0.0.1:PORT` (a free port), no TLS, no auth.

    Objects live in `store` (default: a `MemoryStore` on the system clock keeping
    `event_retention` watch events; older resume points get 410 Expired). Built-in objects
    are validated against the upstream schemas of `kubernetes_version`. Use as a context
    manager, or `start()` / `stop()`.
    """

    def __init__(
        self,
        *,
        store: ResourceStore | None = None,
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        event_retention: int = 10000,
        pod_log: Callable[[str, str], Path | None] = lambda _ns, _name: None,
        pod_metrics: FakePodMetrics | None = None,
    ) -> None:
        self.store = store or MemoryStore(
            clock=SystemClock(), event_retention=event_retention, poll_interval=0.1
        )
        self.kubernetes_version = kubernetes_version
        self.context = FakeApiContext(self.store, kubernetes_version, pod_log)
        self.pod_metrics = pod_metrics  # the resource metrics API, when served (`metrics`)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Create the initial namespaces, bind a free port and serve until `stop`."""
        for name in INITIAL_NAMESPACES:
            self.store.create(NAMESPACE.resource, _namespace(name))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.context, self.pod_metrics),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="fake-kube-apiserver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake kube-apiserver did not start")
            time.sleep(0.01)

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        """Stop serving (open watches are cut) and close the store. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.store.close()


def _namespace(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
