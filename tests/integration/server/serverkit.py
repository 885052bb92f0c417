"""Helpers for the server's integration tests: the real API server on loopback over a real
SQLite store, and manifests to send it.

Each test gets its own store file, its own uvicorn server on a free port (served from a
background thread) and a `Client` for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from mlkube.api.errors import Cause
from mlkube.api.kinds import Kind
from mlkube.api.meta import Model
from mlkube.api.pipeline import Pipeline, PipelineSpec
from mlkube.api.pipelinerun import PipelineRun
from mlkube.sdk.client import Client
from mlkube.server.app import create_app
from mlkube.server.context import LogSource, Operation
from mlkube.store.sqlite import SqliteStore

TOKEN = "test-token-alice"
USERS = {TOKEN: "alice"}
STARTUP_SECONDS = 10.0


def no_gpus(kind: Kind, obj: Model, operation: Operation) -> list[Cause]:
    """An admission check like the lead's capacity check: this test machine has no GPUs."""
    spec: PipelineSpec | None = None
    if isinstance(obj, Pipeline):
        spec, field = obj.spec, "spec"
    elif isinstance(obj, PipelineRun):
        spec, field = obj.spec.pipeline_spec, "spec.pipelineSpec"
    if spec is None:
        return []
    return [
        Cause(f"{field}.steps[{i}].resources", "no node here has a GPU")
        for i, step in enumerate(spec.steps)
        if step.resources.nvidia_gpu
    ]


class SqliteStoreCountingSubscribers(SqliteStore):
    """The real store, also counting live `subscribe`rs (to see that watches let go)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribers = 0
        self._count_lock = threading.Lock()

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(callback)
        with self._count_lock:
            self.subscribers += 1
        done = threading.Event()

        def counted_unsubscribe() -> None:
            unsubscribe()
            with self._count_lock:
                if not done.is_set():
                    done.set()
                    self.subscribers -= 1

        return counted_unsubscribe


@dataclass
class Api:
    """A running server: its URL, its store, a client, and where step logs live."""

    url: str
    store: SqliteStoreCountingSubscribers
    client: Client
    logs: Path

    def http(self, token: str | None = TOKEN) -> httpx.Client:
        """A raw HTTP client (with the bearer token, unless None)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def log_file(self, namespace: str, run: str, step: str, attempt: int) -> Path:
        """Where the test's log source finds a step attempt's log (the folder is created)."""
        path = self.logs / namespace / run / step / str(attempt) / "log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def log_source_in(root: Path) -> LogSource:
    """A log source over `root/NS/RUN/STEP/ATTEMPT/log` (attempt None: the highest)."""

    def find(namespace: str, run: str, step: str, attempt: int | None) -> Path | None:
        step_dir = root / namespace / run / step
        if attempt is None:
            numbers = [int(p.name) for p in step_dir.glob("*") if p.name.isdigit()]
            if not numbers:
                return None
            attempt = max(numbers)
        return step_dir / str(attempt) / "log"

    return find


@contextlib.contextmanager
def running_api(
    tmp_path: Path, *, event_retention: int = 10000, log_source: LogSource | None = None
) -> Iterator[Api]:
    """A server over a fresh store in `tmp_path`, with the `default` and `team` namespaces;
    step logs are found under `tmp_path/logs` unless another `log_source` is given."""
    store = SqliteStoreCountingSubscribers(tmp_path / "state.db", event_retention=event_retention)
    logs = tmp_path / "logs"
    app = create_app(
        store=store,
        authenticator=USERS.get,
        admission=[no_gpus],
        log_source=log_source or log_source_in(logs),
    )
    try:
        with serving(app) as url, Client(url, TOKEN) as client:
            for name in ("default", "team"):
                client.create(namespace(name))
            yield Api(url, store, client, logs)
    finally:
        store.close()


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def step(name: str, *, after: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A command step waiting for the steps in `after`."""
    return {"name": name, "command": ["echo", name], "dependsOn": list(after), **extra}


def pipeline(
    name: str, *steps: dict[str, Any], namespace: str = "team", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {"steps": list(steps) or [step("only")]},
    }


def run(name: str, *steps: dict[str, Any], namespace: str = "team", **meta: Any) -> dict[str, Any]:
    """A PipelineRun with an inline pipeline."""
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {"pipelineSpec": {"steps": list(steps) or [step("only")]}},
    }
