"""Fixtures: a real embedded platform (SQLite, local runtime, HTTP on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import ApiError
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform

MLKUBE = str(Path(sys.executable).with_name("mlkube"))
FINISHED = ("Succeeded", "Failed")


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_finished(
    client: Client, name: str, namespace: str = "default", timeout: float = 60
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = client.get("pipelineruns", name, namespace=namespace)
        return obj if (obj.get("status") or {}).get("phase") in FINISHED else None

    result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"run {name} to finish")
    return result


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def step_of(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in run["status"]["steps"] if s["name"] == name)


def run_body(name: str, steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": spec.pop("namespace", "default")},
        "spec": {"pipelineSpec": {"steps": steps}, **spec},
    }


def py(name: str, function: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "python": {"module": "mlkube.testing.steps", "function": function},
        **extra,
    }


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    plat = EmbeddedPlatform(tmp_path / "data", port=0)
    plat.start()
    try:
        yield plat
    finally:
        plat.stop()


@pytest.fixture
def client(platform: EmbeddedPlatform) -> Iterator[Client]:
    with Client(platform.url, platform.admin_token(), ca_data=platform.ca_pem) as c:
        yield c


class UpProcess:
    """`mlkube up` as a real process with its own home, for CLI and crash tests."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = dict(os.environ, MLKUBE_HOME=str(home), MLKUBE_CONFIG=str(home / "config"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        """Start `mlkube up --port 0 ARGS...` and wait until it serves."""
        log = open(self.home / "up.log", "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [MLKUBE, "up", "--port", "0", *args], env=self.env, stdout=log, stderr=log
        )
        log.close()
        wait_for(self._ready, timeout=30, what="mlkube up to serve")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mlkube up exited: {(self.home / 'up.log').read_text()}")
        try:
            with Client.from_config(self.home / "config") as c:
                c.list("namespaces")
        except (ApiError, OSError):
            return False
        return True

    def client(self) -> Client:
        return Client.from_config(self.home / "config")

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MLKUBE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            input=input_text,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    home = tmp_path / "home"
    home.mkdir()
    proc = UpProcess(home)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
