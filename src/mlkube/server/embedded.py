"""The embedded platform: one process with the API server, the controllers and the local
runtime, state in SQLite under a data directory.

    platform = EmbeddedPlatform(Path("~/.mlkube/data").expanduser(), port=8470)
    platform.start()          # store, runtime, controllers; API served in a thread
    ...
    platform.stop()

`mlkube up` runs the same thing in the foreground.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from mlkube.api.clock import Clock, SystemClock
from mlkube.api.errors import AlreadyExists
from mlkube.api.kinds import CLUSTER_ROLE_BINDING, NAMESPACE
from mlkube.api.namespace import DEFAULT_NAMESPACE
from mlkube.controllers.admission import capacity_check, queue_checks
from mlkube.controllers.manager import ControllerManager
from mlkube.controllers.namespace import FINALIZER as NAMESPACE_FINALIZER
from mlkube.controllers.pipelinerun.fair_usage import DEFAULT_HALF_LIFE_SECONDS
from mlkube.controllers.queues import queue_usage
from mlkube.controllers.serving.router_client import RouterProcess
from mlkube.controllers.storage_quota import storage_quota_check
from mlkube.controllers.trainingjob.workers import worker_log
from mlkube.runtime.base import Runtime
from mlkube.runtime.local.runtime import LocalRuntime
from mlkube.server.app import create_app
from mlkube.server.audit import AuditLog
from mlkube.server.auth import TokenFile, generate_token
from mlkube.server.authz import RbacAuthorizer
from mlkube.server.tls import TlsFiles, ensure_certificates
from mlkube.storage.layout import DataDir
from mlkube.store.accounting import SqliteAccountingLog
from mlkube.store.sqlite import SqliteStore

log = logging.getLogger("mlkube")
ADMIN_USER = "admin"


class PortInUse(RuntimeError):
    """The API port is taken, most likely by another `mlkube up`."""


class EmbeddedPlatform:
    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8470,
        runtime: Runtime | None = None,
        clock: Clock | None = None,
        tls: bool = True,
        serving_port: int | None = None,
        usage_half_life: float = DEFAULT_HALF_LIFE_SECONDS,
        artifact_store: str | None = None,
    ) -> None:
        self.data = DataDir(data_dir)
        # None: artifacts under the data folder; `s3://BUCKET[/PREFIX]`: in that object store.
        self.artifact_store = artifact_store
        self.usage_half_life = usage_half_life
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        self._runtime = runtime
        self.tls = tls
        # Model services are reached through the router, on the next port by default.
        self.serving_port = serving_port if serving_port is not None else (port + 1 if port else 0)
        self.tls_files: TlsFiles | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_pem(self) -> bytes | None:
        """The CA certificate clients must trust (None without TLS)."""
        return self.tls_files.ca_pem() if self.tls_files else None

    @property
    def token_file(self) -> Path:
        return self.data.root / "tokens.yaml"

    def admin_token(self) -> str:
        """The admin's token, created on first start (file readable only by its owner)."""
        tokens = TokenFile(self.token_file)
        existing = tokens.token_for(ADMIN_USER)
        if existing:
            return existing
        token = generate_token()
        tokens.add(token, ADMIN_USER)
        return token

    def prepare(self) -> None:
        """Open the store, start the runtime and controllers, build the API; no serving yet."""
        self.data.root.mkdir(parents=True, exist_ok=True)
        self._socket = self._bind()
        if self.tls:
            self.tls_files = ensure_certificates(self.data.root / "tls", hosts=[self.host])
        self.store = SqliteStore(self.data.state_db, clock=self.clock)
        # Usage records live in the store's file, in a table of their own (store.accounting).
        self.accounting = SqliteAccountingLog(self.data.state_db)
        self.runtime = self._runtime or LocalRuntime()
        self._ensure_default_namespace()
        self.router = RouterProcess(
            host=self.host, port=self.serving_port, work_dir=self.data.root / "serving"
        )
        self.manager = ControllerManager(
            self.store,
            self.runtime,
            data=self.data,
            clock=self.clock,
            router=self.router,
            usage_half_life=self.usage_half_life,
            accounting=self.accounting,
            artifact_store=self.artifact_store,
        )
        self.manager.start()
        self.admin_token()
        self._ensure_admin_binding()
        self.audit = AuditLog(self.data.root / "audit.log", clock=self.clock)
        self.app = create_app(
            store=self.store,
            authenticator=TokenFile(self.token_file).authenticate,
            admission=[
                capacity_check(self.manager.runs.node),
                queue_checks(self.store, self._queue_usage),
                storage_quota_check(self.store),
            ],
            log_source=self.log_path,
            job_log_source=self.job_log_path,
            clock=self.clock,
            authorizer=RbacAuthorizer(self.store),
            audit=self.audit,
            accounting=self.accounting,
        )

    def start(self) -> None:
        """`prepare`, then serve the API in a background thread until `stop`."""
        self.prepare()
        self._server = self._make_server()
        self._thread = threading.Thread(target=self._serve, name="mlkube-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def serve_prepared(self) -> None:
        """After `prepare`: serve in this thread until SIGINT/SIGTERM, then shut down."""
        self._server = self._make_server()
        try:
            self._serve()
        finally:
            self.shutdown()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.shutdown()

    def shutdown(self) -> None:
        """Stop controllers and every running step; close the store."""
        if hasattr(self, "manager"):
            self.manager.stop()
        if hasattr(self, "runtime"):
            self.runtime.close()
        if hasattr(self, "router"):
            self.router.stop()
        if hasattr(self, "store"):
            self.store.close()
        if hasattr(self, "accounting"):
            self.accounting.close()
        if hasattr(self, "audit"):
            self.audit.close()

    def _queue_usage(self) -> dict[str, dict[tuple[str, str], int]]:
        return queue_usage(self.manager.runs.queue, self.manager.runs.queue_config())

    def log_path(self, namespace: str, run: str, step: str, attempt: int | None) -> Path | None:
        """The log file of a step attempt (the latest when `attempt` is None)."""
        step_dir = self.data.run_dir(namespace, run) / step
        if attempt is None:
            attempts = [int(p.name) for p in step_dir.glob("*") if p.name.isdigit()]
            if not attempts:
                return None
            attempt = max(attempts)
        path = step_dir / str(attempt) / "log"
        return path if path.exists() else None

    def job_log_path(self, namespace: str, job: str, start: int, worker: int) -> Path | None:
        """The file a TrainingJob worker logs to in the gang's start number `start` (it may
        not exist yet: the start may not have begun)."""
        return worker_log(self.data, namespace, job, start, worker)

    # -- internals --------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"{self.host}:{self.port} is in use: is another `mlkube up` running? "
                    "Stop it or pick another --port."
                ) from None
            raise
        self.port = sock.getsockname()[1]
        return sock

    def _make_server(self) -> uvicorn.Server:
        # Open watches and followed logs must not hold up a shutdown.
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=str(self.tls_files.server_cert) if self.tls_files else None,
            ssl_keyfile=str(self.tls_files.server_key) if self.tls_files else None,
        )
        return uvicorn.Server(config)

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        self._server.run(sockets=[self._socket])

    def _ensure_admin_binding(self) -> None:
        """The admin user is a cluster admin (a binding it could delete, as in Kubernetes)."""
        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "mlkube-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "User", "name": ADMIN_USER}],
        }
        with contextlib.suppress(AlreadyExists):
            self.store.create(CLUSTER_ROLE_BINDING.resource, body)

    def _ensure_default_namespace(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": DEFAULT_NAMESPACE, "finalizers": [NAMESPACE_FINALIZER]},
            "status": {"phase": "Active"},
        }
        with contextlib.suppress(AlreadyExists):
            self.store.create(NAMESPACE.resource, body)
