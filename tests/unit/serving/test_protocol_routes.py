"""The replica's OIP routes, called through `build_app` with a fake model: no sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from mlkube.serving import replica
from mlkube.serving.http import Request, Response
from mlkube.serving.models import TensorSpec
from mlkube.serving.replica import ReplicaApp, build_app

Array = np.ndarray[Any, Any]
pytestmark = pytest.mark.anyio


class Doubler:
    """Doubles `x` (FP32 [-1, 2]); `sum` is optional; -1 raises ValueError, -2 RuntimeError."""

    name = "dbl"
    version = "7"
    platform = "fake"
    inputs: tuple[TensorSpec, ...] = (TensorSpec("x", "FP32", (-1, 2)),)
    outputs: tuple[TensorSpec, ...] = (
        TensorSpec("y", "FP32", (-1, 2)),
        TensorSpec("sum", "FP32", (-1,)),
    )
    default_outputs: tuple[str, ...] = ("y",)

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        x = inputs["x"]
        if (x == -1).any():
            raise ValueError("x must not be -1")
        if (x == -2).any():
            raise RuntimeError("device on fire")
        return {"y": x * 2, "sum": x.sum(axis=1)}


@pytest.fixture
async def app() -> AsyncIterator[ReplicaApp]:
    app = build_app(Doubler())
    yield app
    await app.close()


async def call(
    app: ReplicaApp, method: str, path: str, body: Any = b"", **headers: str
) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await app(
        Request(method, path, "", {k.replace("_", "-"): v for k, v in headers.items()}, raw)
    )


def infer_body(data: Any = ((1.0, 2.0),), **extra: Any) -> dict[str, Any]:
    rows = [list(r) for r in data]
    return {
        "inputs": [
            {"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP32", "data": rows}
        ],
        **extra,
    }


async def error(
    app: ReplicaApp, status: int, method: str, path: str, body: Any = b"", **h: str
) -> str:
    response = await call(app, method, path, body, **h)
    assert response.status == status, response.body
    message: str = orjson.loads(response.body)["error"]
    return message


async def test_health_and_server_metadata(app: ReplicaApp) -> None:
    assert orjson.loads((await call(app, "GET", "/v2/health/live")).body) == {"live": True}
    assert orjson.loads((await call(app, "GET", "/v2/health/ready")).body) == {"ready": True}
    meta = orjson.loads((await call(app, "GET", "/v2")).body)
    assert meta["name"] == "mlkube"
    assert meta["extensions"] == ["binary_tensor_data"]


async def test_model_metadata_and_ready_with_and_without_version(app: ReplicaApp) -> None:
    expected = {
        "name": "dbl",
        "versions": ["7"],
        "platform": "fake",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "sum", "datatype": "FP32", "shape": [-1]},
        ],
    }
    for path in ("/v2/models/dbl", "/v2/models/dbl/versions/7"):
        assert orjson.loads((await call(app, "GET", path)).body) == expected
        assert (await call(app, "GET", path + "/ready")).status == 200


async def test_infer_json_returns_the_default_outputs(app: ReplicaApp) -> None:
    response = await call(app, "POST", "/v2/models/dbl/infer", infer_body(id="req-1"))
    assert response.status == 200
    assert response.content_type == "application/json"
    assert orjson.loads(response.body) == {
        "model_name": "dbl",
        "model_version": "7",
        "id": "req-1",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [2.0, 4.0]}],
    }


async def test_infer_binary_round_trip_with_the_triton_codec(app: ReplicaApp) -> None:
    x = np.array([[1, 2], [3, 4]], dtype=np.float32)
    infer_input = triton.InferInput("x", [2, 2], "FP32")
    infer_input.set_data_from_numpy(x)
    wanted = [
        triton.InferRequestedOutput("sum"),
        triton.InferRequestedOutput("y", binary_data=False),
    ]
    body, json_size = triton.InferenceServerClient.generate_request_body([infer_input], wanted)
    path = "/v2/models/dbl/versions/7/infer"
    response = await call(app, "POST", path, body, inference_header_content_length=str(json_size))
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    ((header_name, header_length),) = response.headers
    assert header_name == "Inference-Header-Content-Length"
    result = triton.InferResult.from_response_body(response.body, header_length=int(header_length))
    np.testing.assert_array_equal(result.as_numpy("sum"), [3.0, 7.0])
    np.testing.assert_array_equal(result.as_numpy("y"), x * 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{",
            "malformed JSON in inference request: unexpected end of data: line 1 column 2 (char 1)",
        ),
        (
            infer_body([[1.0, 2.0, 3.0]]),
            "input 'x' of model 'dbl' has shape [1, 3], expected [-1, 2] "
            "(2 features per row, got 3)",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]},
            "input 'x' of model 'dbl' has datatype BYTES, expected FP32",
        ),
        (
            {"inputs": [{"name": "w", "shape": [1], "datatype": "FP32", "data": [1]}]},
            "unknown input 'w' for model 'dbl'; it takes x",
        ),
        (
            infer_body(outputs=[{"name": "nope"}]),
            "unknown output 'nope' for model 'dbl'; known: sum, y",
        ),
        (infer_body([[-1.0, 0.0]]), "model 'dbl' rejected the request: x must not be -1"),
    ],
)
async def test_a_bad_request_is_a_400_naming_the_problem(
    app: ReplicaApp, body: Any, message: str
) -> None:
    assert await error(app, 400, "POST", "/v2/models/dbl/infer", body) == message


async def test_a_missing_input_names_what_the_model_takes() -> None:
    class TwoInputs(Doubler):
        inputs = (TensorSpec("x", "FP32", (-1, 2)), TensorSpec("w", "FP32", (-1,)))

    app = build_app(TwoInputs())
    message = await error(app, 400, "POST", "/v2/models/dbl/infer", infer_body())
    assert message == "missing input 'w' (FP32 [-1]) for model 'dbl'"
    await app.close()


async def test_a_bad_inference_header_length_is_a_400(app: ReplicaApp) -> None:
    path = "/v2/models/dbl/infer"
    assert "is not a number" in await error(
        app, 400, "POST", path, infer_body(), inference_header_content_length="x"
    )


async def test_a_failing_model_is_a_500_and_the_app_keeps_serving(app: ReplicaApp) -> None:
    message = await error(app, 500, "POST", "/v2/models/dbl/infer", infer_body([[-2.0, 0.0]]))
    assert message == "model 'dbl' failed: RuntimeError: device on fire"
    assert (await call(app, "POST", "/v2/models/dbl/infer", infer_body())).status == 200


async def test_unknown_models_versions_and_routes_are_404(app: ReplicaApp) -> None:
    assert await error(app, 404, "POST", "/v2/models/other/infer", infer_body()) == (
        "unknown model 'other'; this server serves 'dbl'"
    )
    assert await error(app, 404, "GET", "/v2/models/dbl/versions/8") == (
        "unknown version '8' of model 'dbl'; available: 7"
    )
    assert await error(app, 404, "GET", "/v2/models/dbl/versions/8/ready") == (
        "unknown version '8' of model 'dbl'; available: 7"
    )
    assert (
        await error(app, 404, "GET", "/v2/models/dbl/stats") == "no route for /v2/models/dbl/stats"
    )
    assert await error(app, 404, "GET", "/v3") == "no route for /v3"


async def test_wrong_methods_are_405(app: ReplicaApp) -> None:
    assert (
        await error(app, 405, "GET", "/v2/models/dbl/infer")
        == "/v2/models/dbl/infer accepts POST only"
    )
    assert await error(app, 405, "POST", "/v2/models/dbl") == "/v2/models/dbl accepts GET only"
    assert await error(app, 405, "DELETE", "/v2/health/live") == "/v2/health/live accepts GET only"


async def test_metrics_count_requests_batches_and_queue(app: ReplicaApp) -> None:
    await call(app, "POST", "/v2/models/dbl/infer", infer_body([[1, 2], [3, 4]]))
    await call(app, "POST", "/v2/models/dbl/infer", b"{")
    response = await call(app, "GET", "/metrics")
    assert response.content_type.startswith("text/plain")
    text = response.body.decode()
    assert 'mlkube_model_requests_total{code="200",model="dbl",version="7"} 1.0' in text
    assert 'mlkube_model_requests_total{code="400",model="dbl",version="7"} 1.0' in text
    assert 'mlkube_model_batch_size_sum{model="dbl",version="7"} 2.0' in text
    assert 'mlkube_model_inference_duration_seconds_count{model="dbl",version="7"} 1.0' in text
    assert 'mlkube_model_queue_length{model="dbl",version="7"} 0.0' in text


async def test_ready_turns_false_when_closing() -> None:
    app = build_app(Doubler())
    await app.close()
    assert (await call(app, "GET", "/v2/health/ready")).status == 503
    assert (await call(app, "GET", "/v2/models/dbl/ready")).status == 503
    assert set(replica.__all__) >= {"build_app", "main", "ReplicaApp"}
