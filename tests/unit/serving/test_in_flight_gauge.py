"""`mlkube_model_in_flight`: the replica's gauge of inference requests being handled, the
series the HPA's `scaleMetric: concurrency` scales on. A predictor that blocks until the test
releases it holds requests in flight; no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Mapping
from typing import Any

import anyio
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlkube.serving.http import Request
from mlkube.serving.models import TensorSpec
from mlkube.serving.replica import ReplicaApp, build_app

Array = np.ndarray[Any, Any]
pytestmark = pytest.mark.anyio
INFER = "/v2/models/gate/infer"


class Gate:
    """Echoes `x`, but each predict call waits until `release` is set; `entered` is set once
    a call is inside the model."""

    name = "gate"
    version = "1"
    platform = "fake"
    inputs: tuple[TensorSpec, ...] = (TensorSpec("x", "FP32", (-1, 1)),)
    outputs: tuple[TensorSpec, ...] = (TensorSpec("y", "FP32", (-1, 1)),)
    default_outputs: tuple[str, ...] = ("y",)

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        self.entered.set()
        self.release.wait()
        return {"y": inputs["x"]}


def request(method: str, path: str, body: Any = None) -> Request:
    return Request(method, path, "", {}, b"" if body is None else orjson.dumps(body))


def row(value: float) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [[value]]}]}


async def in_flight(app: ReplicaApp) -> float:
    """The gauge as a Prometheus scrape of /metrics reads it."""
    text = (await app(request("GET", "/metrics"))).body.decode()
    for family in text_string_to_metric_families(text):
        if family.name == "mlkube_model_in_flight":
            (sample,) = family.samples
            assert sample.labels == {"model": "gate", "version": "1"}
            return float(sample.value)
    raise AssertionError("no mlkube_model_in_flight in /metrics")


async def test_the_gauge_counts_requests_until_they_are_answered() -> None:
    model = Gate()
    app = build_app(model, max_batch_size=1)
    try:
        assert await in_flight(app) == 0
        first = asyncio.create_task(app(request("POST", INFER, row(1.0))))
        await anyio.to_thread.run_sync(model.entered.wait)  # inside the model, blocked
        assert await in_flight(app) == 1
        # A second request queues behind the blocked batch: in flight too.
        second = asyncio.create_task(app(request("POST", INFER, row(2.0))))
        while app.batcher.queue_length == 0:
            await asyncio.sleep(0)  # let the second request reach the batcher's queue
        assert await in_flight(app) == 2
        model.release.set()
        answers = await asyncio.gather(first, second)
        assert [a.status for a in answers] == [200, 200]
        assert await in_flight(app) == 0
    finally:
        model.release.set()
        await app.close()


async def test_a_refused_request_leaves_the_gauge_at_zero() -> None:
    app = build_app(Gate())
    try:
        answer = await app(request("POST", INFER, {"inputs": []}))
        assert answer.status == 400
        assert await in_flight(app) == 0
    finally:
        await app.close()
