"""Fixtures for the serving router's integration tests: a real router process on loopback and
tiny upstream servers (built with ``mlkube.serving.http``) on a background event loop.

Every wait polls with a deadline; nothing sleeps for a fixed long time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from mlkube.serving.http import HttpServer, Request, Response, start_server

T = TypeVar("T")
TOKEN = "test-router-token"


def eventually(check: Callable[[], T | None], *, timeout: float = 10.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.01)


def wait_for_ready_file(
    proc: subprocess.Popen[bytes],
    path: Path,
    *,
    timeout: float,
    what: str,
    output: Callable[[], str],
) -> dict[str, int]:
    """The JSON a serving process writes to ``path`` once bound; fail (with ``output()``) if it
    exits first, and kill it if it is not ready within ``timeout`` seconds."""

    def ready() -> dict[str, int] | None:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{output()}")
        return orjson.loads(path.read_bytes()) if path.exists() else None  # written atomically

    try:
        return eventually(ready, timeout=timeout, what=f"the {what}'s ready file")
    except BaseException:  # pytest.fail raises an exception outside Exception
        proc.kill()
        raise


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float) -> int:
    """SIGTERM, then the exit status; a process still running after ``timeout`` s is killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    return proc.returncode


class Upstreams:
    """Echo servers on one background loop. Each answers JSON naming itself, or its body raw
    for paths ending in ``/echo``; ``?delay=S`` (or a per-server delay) makes it slow."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.servers: dict[str, HttpServer] = {}
        self._raw: list[asyncio.Server] = []
        self.hits: Counter[str] = Counter()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self, name: str, *, delay: float = 0.0, port: int = 0) -> int:
        """Start upstream ``name``; returns its port."""

        async def handler(req: Request) -> Response:
            self.hits[name] += 1
            wait = float(req.query[6:]) if req.query.startswith("delay=") else delay
            if wait:
                await asyncio.sleep(wait)
            if req.path.endswith("/echo"):
                return Response(body=req.body, content_type="application/octet-stream")
            payload = {
                "upstream": name,
                "path": req.path,
                "query": req.query,
                "host": req.headers.get("host"),
                "body_bytes": len(req.body),
            }
            return Response(body=orjson.dumps(payload), headers=(("x-upstream", name),))

        self.servers[name] = self.call(start_server(handler, port=port))
        return self.servers[name].port

    def start_broken(self) -> int:
        """A server that sends half a response and hangs up (a replica crashing mid-reply)."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await writer.drain()
            writer.close()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(serve, "127.0.0.1", 0)

        server = self.call(start())
        self._raw.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def stop(self, name: str) -> None:
        self.call(self.servers.pop(name).close(timeout=2.0))

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)

        async def close_raw() -> None:
            for server in self._raw:
                server.close()
                await server.wait_closed()

        self.call(close_raw())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class RouterProcess:
    """A running ``python -m mlkube.serving.router`` and clients for both of its ports."""

    def __init__(self, proc: subprocess.Popen[bytes], ready: dict[str, int], log: Path) -> None:
        self.proc = proc
        self.port = ready["port"]
        self.admin_port = ready["admin_port"]
        self.pid = ready["pid"]
        self.log = log
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.admin = httpx.Client(
            base_url=self.admin_url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def put_routes(self, *services: dict[str, Any]) -> httpx.Response:
        return self.admin.put("/routes", content=orjson.dumps({"services": list(services)}))

    def stats(self, namespace: str = "team-a", name: str = "iris") -> dict[str, Any]:
        doc = self.admin.get("/stats").raise_for_status().json()
        for svc in doc["services"]:
            if (svc["namespace"], svc["name"]) == (namespace, name):
                return dict(svc)
        raise AssertionError(f"no stats for {namespace}/{name} in {doc}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait (killing it after ``timeout`` s), close clients; the exit status."""
        try:
            return stop_process(self.proc, timeout=timeout)
        finally:
            self.client.close()
            self.admin.close()


def service(
    *revisions: tuple[str, int, list[tuple[str, int]]],
    namespace: str = "team-a",
    name: str = "iris",
    activation_timeout_s: float | None = None,
) -> dict[str, Any]:
    """A route-table service: revisions as (name, percent, [(endpoint id, port), ...])."""
    doc: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "revisions": [
            {
                "name": rev,
                "percent": percent,
                "endpoints": [{"id": i, "host": "127.0.0.1", "port": p} for i, p in endpoints],
            }
            for rev, percent, endpoints in revisions
        ],
    }
    if activation_timeout_s is not None:
        doc["activation_timeout_s"] = activation_timeout_s
    return doc


def start_router(tmp_path: Path, *extra_args: str) -> RouterProcess:
    ready_file = tmp_path / "router-ready.json"
    log = tmp_path / "router.log"
    env = {**os.environ, "MLKUBE_ROUTER_TOKEN": TOKEN}
    with log.open("wb") as out:
        argv = [sys.executable, "-m", "mlkube.serving.router", "--ready-file", str(ready_file)]
        proc = subprocess.Popen(
            [*argv, *extra_args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    ready = wait_for_ready_file(proc, ready_file, timeout=20, what="router", output=log.read_text)
    return RouterProcess(proc, ready, log)


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    ups = Upstreams()
    try:
        yield ups
    finally:
        ups.close()


@pytest.fixture
def router(tmp_path: Path) -> Iterator[RouterProcess]:
    proc = start_router(tmp_path)
    try:
        yield proc
    finally:
        status = proc.stop()
        assert status == 0, f"router exited with {status}:\n{proc.log.read_text()}"
