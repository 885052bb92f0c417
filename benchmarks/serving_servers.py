"""The servers benchmarks/serving.py measures, each a context manager around real processes.

Every `start_*` yields the inference URL once the server answers, and stops its processes
(SIGTERM to the process group, SIGKILL after a grace period) on the way out. Logs go to files
in the work directory, never to a pipe nobody reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = [
    "MODEL_NAME",
    "child_process",
    "ensure_mlserver_venv",
    "free_port",
    "start_baseline",
    "start_mlserver",
    "start_replica",
    "start_router",
    "wait_until",
]

MODEL_NAME = "iris"
NAMESPACE = "bench"
# MLServer 1.7.1's inference workers call asyncio.get_event_loop() in a fresh process, which
# uvloop 0.22 and later refuse ("There is no current event loop"): the model never loads.
MLSERVER_PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0")
BASELINE = Path(__file__).with_name("serving_baseline.py")
T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on loopback right now (MLServer cannot be told to pick one itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def child_process(
    argv: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` in its own process group, output appended to `log`; stopped on exit."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})),
            cwd=cwd,
            start_new_session=True,  # its own process group: MLServer's workers go with it
        )
    try:
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process itself (it stops its own children), then SIGKILL to whatever
    is left of its process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until(
    check: Callable[[], T | None], proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> T:
    """Poll `check()` until it returns something truthy and return that; raise RuntimeError
    with the end of `log` if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited with {proc.returncode}:\n{_tail(log)}")
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"{log.stem} not ready after {timeout:.0f}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def start_replica(model: Path, work: Path, *, extra: Sequence[str] = ()) -> Iterator[str]:
    """One mlkube replica (`python -m mlkube.serving.replica`); yields its base URL."""
    ready, log = work / "replica.ready", work / "replica.log"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "mlkube.serving.replica", "--name", MODEL_NAME]
    argv += ["--model", str(model), "--format", "sklearn", "--port", "0"]
    argv += ["--ready-file", str(ready), *extra]
    with child_process(argv, log) as proc:
        info = wait_until(lambda: _read_json(ready), proc, log, timeout=30)
        yield f"http://127.0.0.1:{info['port']}"


@contextmanager
def start_router(work: Path, upstream: str) -> Iterator[str]:
    """The mlkube router in front of `upstream` (a replica's base URL); yields the URL prefix
    under which the model's OIP routes are reached (`.../serving/bench/iris`)."""
    ready, log = work / "router.ready", work / "router.log"
    ready.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    argv = [sys.executable, "-m", "mlkube.serving.router", "--port", "0", "--admin-port", "0"]
    argv += ["--ready-file", str(ready)]
    with child_process(argv, log, env={"MLKUBE_ROUTER_TOKEN": token}) as proc:
        info = wait_until(lambda: _read_json(ready), proc, log, timeout=30)
        _put_routes(f"http://127.0.0.1:{info['admin_port']}", token, upstream)
        yield f"http://127.0.0.1:{info['port']}/serving/{NAMESPACE}/{MODEL_NAME}"


def _put_routes(admin: str, token: str, upstream: str) -> None:
    port = int(upstream.rsplit(":", 1)[1])
    endpoint = {"id": f"{MODEL_NAME}-0", "host": "127.0.0.1", "port": port}
    revision = {"name": f"{MODEL_NAME}-00001", "percent": 100, "endpoints": [endpoint]}
    table = {"services": [{"namespace": NAMESPACE, "name": MODEL_NAME, "revisions": [revision]}]}
    response = httpx.put(
        f"{admin}/routes", json=table, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    if response.status_code != 200:
        raise RuntimeError(f"router refused the route table: {response.text}")


@contextmanager
def start_baseline(model: Path, work: Path) -> Iterator[str]:
    """A bare Starlette/uvicorn endpoint calling the model in the event loop; yields its URL."""
    port, log = free_port(), work / "baseline.log"
    argv = [sys.executable, str(BASELINE), "--model", str(model), "--port", str(port)]
    with child_process(argv, log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/healthz"), proc, log, timeout=30)
        yield url


def mlserver_pins() -> list[str]:
    """What the MLServer venv gets: MLServer, and the project's own versions of the libraries
    that read the model file, so the same joblib file loads in both."""
    same = [f"{name}=={dist_version(name)}" for name in ("scikit-learn", "joblib", "numpy")]
    return [*MLSERVER_PINS, *same]


def ensure_mlserver_venv(venv: Path) -> Path:
    """A virtualenv with MLServer at `venv` (created on first use); returns its `mlserver`."""
    pins = mlserver_pins()
    stamp, exe = venv / ".benchmark-pins", venv / "bin" / "mlserver"
    if exe.exists() and stamp.exists() and stamp.read_text().split() == pins:
        return exe
    print(f"installing {' '.join(pins)} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *pins], check=True)
    stamp.write_text("\n".join(pins))
    return exe


@contextmanager
def start_mlserver(
    exe: Path, model: Path, work: Path, *, parallel_workers: int | None = None
) -> Iterator[str]:
    """Seldon MLServer serving `model` with its defaults (but for `parallel_workers` when
    given); yields its base URL once the model is ready."""
    label = "default" if parallel_workers is None else f"pw{parallel_workers}"
    folder = work / f"mlserver-{label}"
    (folder / MODEL_NAME).mkdir(parents=True, exist_ok=True)  # a model's folder is its name
    http_port = free_port()
    settings: dict[str, Any] = {
        "http_port": http_port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
    }
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model), "version": "1"},
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / MODEL_NAME / "model-settings.json").write_text(json.dumps(model_settings))
    log = work / f"mlserver-{label}.log"
    with child_process([str(exe), "start", str(folder)], log, cwd=folder) as proc:
        url = f"http://127.0.0.1:{http_port}"
        # /v2/health/ready answers 200 even when the model failed to load: ask the model.
        wait_until(lambda: _answers(f"{url}/v2/models/{MODEL_NAME}/ready"), proc, log, timeout=90)
        yield url
