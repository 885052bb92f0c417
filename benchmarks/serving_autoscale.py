"""Autoscaling reaction times for benchmarks/serving.py, through the real embedded platform.

`mlkube up` runs in a temporary MLKUBE_HOME (its own process, as a user runs it); an
InferenceService (maxReplicas 3, concurrency target 2) is created through the public API and
driven with wrk through the router:

1. create → Ready, and → the first answer through the router;
2. a step from concurrency 1 to 16: until the status shows a scale-up decision, a second ready
   replica, a second replica answering (the router's `x-mlkube-replica` header on probe
   requests), and a third ready replica;
3. minReplicas set to 0 once the load stops: until no replica is left, then the time of one
   request from zero replicas (cold start through the router's activator).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from serving_servers import child_process, wait_until
from serving_wrk import start_wrk

from mlkube.api.errors import ApiError
from mlkube.sdk.client import Client

__all__ = ["Reaction", "run_autoscale"]

SERVICE = "iris-scale"
NAMESPACE = "default"
PLURAL = "inferenceservices"
T = TypeVar("T")


@dataclass
class Reaction:
    """The measured figures (label → seconds, None when not reached) and what went wrong."""

    figures: list[tuple[str, float | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, seconds: float | None) -> None:
        self.figures.append((label, seconds))


@contextmanager
def platform(home: Path) -> Iterator[Client]:
    """`mlkube up --port 0` with its own home; yields a client of its API."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config"
    env = {"MLKUBE_HOME": str(home), "MLKUBE_CONFIG": str(config)}
    mlkube = str(Path(sys.executable).with_name("mlkube"))
    log = home / "up.log"
    with child_process([mlkube, "up", "--port", "0"], log, env=env) as proc:
        client = wait_until(lambda: _client(config), proc, log, timeout=60)
        try:
            yield client
        finally:
            client.close()


def _client(config: Path) -> Client | None:
    if not config.exists():
        return None
    client = Client.from_config(config)
    try:
        client.list("namespaces")
    except (ApiError, OSError, httpx.HTTPError):
        client.close()
        return None
    return client


def manifest(model: Path) -> dict[str, Any]:
    """The InferenceService under test: scales on concurrency, 2 per replica, 1 to 3."""
    predictor = {
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": str(model)},
        "minReplicas": 1,
        "maxReplicas": 3,
        "scaleMetric": "concurrency",
        "scaleTarget": 2,
        "scaleToZeroAfterSeconds": 3,
        "scaleDownDelaySeconds": 3,
    }
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"predictor": predictor},
    }


def _poll(check: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def _status(client: Client) -> dict[str, Any]:
    status: dict[str, Any] = client.get(PLURAL, SERVICE, NAMESPACE).get("status") or {}
    return status


def _ready_url(client: Client) -> str | None:
    status = _status(client)
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    url = status.get("url")
    return str(url) if url and ready.get("status") == "True" else None


def _infer(http: httpx.Client, url: str, body: bytes) -> httpx.Response | None:
    try:
        response = http.post(url, content=body, headers={"content-type": "application/json"})
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


def run_autoscale(model: Path, work: Path, body: bytes, *, quick: bool) -> Reaction:
    """Run the three phases above and return their figures (never raises for a missed one)."""
    result = Reaction()
    with platform(work / "home") as client, httpx.Client(timeout=60) as http:
        start = time.monotonic()
        client.create(manifest(model))
        base = _poll(lambda: _ready_url(client), timeout=60)
        result.add("create → Ready (1 replica)", _since(start, base))
        if base is None:
            result.notes.append(f"never Ready: {_status(client)}")
            return result
        url = f"{base}/v2/models/{SERVICE}/infer"
        first = _poll(lambda: _infer(http, url, body), timeout=30)
        result.add("create → first answer via router", _since(start, first))
        _step(client, http, url, body, result, quick=quick)
        _cold(client, http, url, body, result, repeats=1 if quick else 2)
    return result


def _since(start: float, reached: object) -> float | None:
    return time.monotonic() - start if reached else None


def _step(
    client: Client, http: httpx.Client, url: str, body: bytes, result: Reaction, *, quick: bool
) -> None:
    light_s, window_s = (2.0, 20.0) if quick else (4.0, 30.0)
    light = start_wrk(url, body, connections=1, seconds=light_s + window_s + 5)
    time.sleep(light_s)
    heavy = start_wrk(url, body, connections=15, seconds=window_s + 5)
    try:
        seen = _watch_scale_up(client, http, url, body, window_s)
    finally:
        for proc in (heavy, light):
            _stop_wrk(proc)
    labels = {
        "decided": "step 1→16 conc → scale-up in status",
        "ready2": "step 1→16 conc → 2nd replica ready",
        "served2": "step 1→16 conc → 2nd replica answers",
        "ready3": "step 1→16 conc → 3rd replica ready",
    }
    for key, label in labels.items():
        result.add(label, seen.get(key))
    if "served2" not in seen:
        result.notes.append(f"no second replica within {window_s:.0f}s: {_status(client)}")


def _watch_scale_up(
    client: Client, http: httpx.Client, url: str, body: bytes, window_s: float
) -> dict[str, float]:
    """Seconds from now until each milestone: a probe request every ~50 ms through the router
    (which replica answered) and the InferenceService status (replicas, readyReplicas)."""
    start = time.monotonic()
    seen: dict[str, float] = {}
    replicas: set[str] = set()
    while time.monotonic() - start < window_s and not {"served2", "ready3"} <= seen.keys():
        response = _infer(http, url, body)
        if response is not None:
            replicas.add(response.headers.get("x-mlkube-replica", "?"))
        status = _status(client)
        now = time.monotonic() - start
        reached = {
            "decided": status.get("replicas", 0) >= 2,
            "ready2": status.get("readyReplicas", 0) >= 2,
            "served2": len(replicas) >= 2,
            "ready3": status.get("readyReplicas", 0) >= 3,
        }
        for key, ok in reached.items():
            if ok:
                seen.setdefault(key, now)
        time.sleep(0.05)
    return seen


def _stop_wrk(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    proc.communicate(timeout=10)


def _cold(
    client: Client, http: httpx.Client, url: str, body: bytes, result: Reaction, *, repeats: int
) -> None:
    client.patch(PLURAL, SERVICE, {"spec": {"predictor": {"minReplicas": 0}}}, NAMESPACE)
    for i in range(repeats):
        idle = time.monotonic()
        zero = _poll(lambda: _status(client).get("replicas", -1) == 0, timeout=60, interval=0.1)
        label = f"#{i + 1} load gone → 0 replicas (3 s delay, 3 s idle)"
        result.add(label, _since(idle, zero))
        if not zero:
            result.notes.append(f"never scaled to zero: {_status(client)}")
            return
        start = time.monotonic()
        try:
            response = http.post(url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            result.notes.append(f"the request from zero replicas failed: {exc!r}")
            return
        ok = response.status_code == 200
        result.add(f"#{i + 1} 0 replicas → first answer (cold)", _since(start, ok))
        if not ok:
            result.notes.append(f"from zero: HTTP {response.status_code} {response.text[:200]}")
            return
