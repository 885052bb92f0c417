"""The controller's seam to the router: set the route table, read traffic statistics.

`RouterAdmin` is the narrow interface; `HttpRouterAdmin` talks to the router process's admin
port; `RouterProcess` starts that process for the embedded platform. Tests use
`mlkube.testing.fake_router.FakeRouter`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from mlkube.runtime.local.child import set_parent_death_signal

__all__ = [
    "Endpoint",
    "HttpRouterAdmin",
    "RevisionRoute",
    "RouterAdmin",
    "RouterProcess",
    "ServiceRoute",
    "ServiceStats",
]


@dataclass(frozen=True)
class Endpoint:
    id: str
    host: str
    port: int


@dataclass(frozen=True)
class RevisionRoute:
    name: str
    percent: int
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class ServiceRoute:
    namespace: str
    name: str
    revisions: tuple[RevisionRoute, ...]
    activation_timeout_s: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "activation_timeout_s": self.activation_timeout_s,
            "revisions": [
                {
                    "name": r.name,
                    "percent": r.percent,
                    "endpoints": [
                        {"id": e.id, "host": e.host, "port": e.port} for e in r.endpoints
                    ],
                }
                for r in self.revisions
            ],
        }


@dataclass(frozen=True)
class ServiceStats:
    """What the autoscaler reads of one service: the averages since the previous read
    (`concurrency` counts held requests too) and the requests held now."""

    held: int = 0
    concurrency: float = 0.0
    rps: float = 0.0


class RouterAdmin(Protocol):
    """What the InferenceService controller needs of a router."""

    @property
    def public_url(self) -> str:
        """Where clients reach the router, e.g. `http://127.0.0.1:8471`."""
        ...

    def set_routes(self, routes: list[ServiceRoute]) -> None:
        """Replace the whole route table. Raises `RuntimeError` naming why it was refused."""
        ...

    def stats(self) -> dict[str, ServiceStats]:
        """Traffic per `namespace/name` since the previous call."""
        ...


class HttpRouterAdmin:
    """The router process's admin API over loopback HTTP with a bearer token."""

    def __init__(self, *, public_url: str, admin_url: str, token: str) -> None:
        self._public_url = public_url
        self._http = httpx.Client(
            base_url=admin_url, headers={"Authorization": f"Bearer {token}"}, timeout=5.0
        )

    @property
    def public_url(self) -> str:
        return self._public_url

    def set_routes(self, routes: list[ServiceRoute]) -> None:
        response = self._http.put("/routes", json={"services": [r.to_dict() for r in routes]})
        if response.status_code != 200:
            raise RuntimeError(f"router refused the route table: {response.text}")

    def stats(self) -> dict[str, ServiceStats]:
        response = self._http.get("/stats")
        response.raise_for_status()
        return {f"{s['namespace']}/{s['name']}": _stats(s) for s in response.json()["services"]}

    def close(self) -> None:
        self._http.close()


def _stats(raw: dict[str, Any]) -> ServiceStats:
    return ServiceStats(
        held=int(raw.get("held", 0)),
        concurrency=float(raw.get("concurrency", 0.0)),
        rps=float(raw.get("rps", 0.0)),
    )


class RouterProcess:
    """The router as a child process of the embedded platform, started on first use (a
    platform that serves no model pays nothing for it). A `RouterAdmin` itself."""

    def __init__(self, *, host: str, port: int, work_dir: Path) -> None:
        self.host, self.port, self.work_dir = host, port, work_dir
        self.token = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin: HttpRouterAdmin | None = None
        self._routes: list[ServiceRoute] = []

    @property
    def public_url(self) -> str:
        return self._started().public_url

    def set_routes(self, routes: list[ServiceRoute]) -> None:
        self._started().set_routes(routes)
        self._routes = list(routes)

    def stats(self) -> dict[str, ServiceStats]:
        return self._started().stats()

    def _started(self) -> HttpRouterAdmin:
        if self.admin is None or self.proc is None or self.proc.poll() is not None:
            restarted = self.admin is not None
            self.start()
            if restarted and self._routes:
                # A router that died lost its table; the controller only sends changes.
                assert self.admin is not None
                self.admin.set_routes(self._routes)
        assert self.admin is not None
        return self.admin

    def start(self, *, timeout: float = 30.0) -> HttpRouterAdmin:
        """Start the router and wait until both its ports are bound."""
        if self.admin is not None:
            self.admin.close()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ready = self.work_dir / "router.ready"
        ready.unlink(missing_ok=True)
        log = open(self.work_dir / "router.log", "ab")  # noqa: SIM115 - the child owns it
        command = [sys.executable, "-m", "mlkube.serving.router", "--host", self.host]
        command += ["--port", str(self.port), "--admin-port", "0", "--ready-file", str(ready)]
        env = dict(os.environ, MLKUBE_ROUTER_TOKEN=self.token)
        parent = os.getpid()
        self.proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            env=env,
            # The router must not outlive the platform, even one killed with SIGKILL.
            preexec_fn=lambda: set_parent_death_signal(signal.SIGTERM, expected_parent=parent),
        )
        log.close()
        info = self._wait_ready(ready, timeout)
        self.port = int(info["port"])  # a restart keeps the URL that statuses show
        self.admin = HttpRouterAdmin(
            public_url=f"http://{self.host}:{info['port']}",
            admin_url=f"http://127.0.0.1:{info['admin_port']}",
            token=self.token,
        )
        return self.admin

    def _wait_ready(self, ready: Path, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the serving router exited with {self.proc.returncode}; "
                    f"see {self.work_dir / 'router.log'}"
                )
            if ready.exists():
                info: dict[str, Any] = json.loads(ready.read_text())
                return info
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the serving router did not start within {timeout:.0f}s")

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
