"""A real replica process per model format, on loopback, spoken to by tritonclient and httpx.

Models are trained here on iris (scikit-learn, XGBoost, and scikit-learn converted to ONNX).
Every wait polls with a deadline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
import tritonclient.http as triton
import xgboost
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

from tests.integration.serving.conftest import stop_process, wait_for_ready_file

X, Y = load_iris(return_X_y=True)
ROWS = X[[0, 60, 120, 149]]


@dataclass
class Case:
    """One model format: how it is saved, its input, and the output to compare."""

    format: str
    path: Path
    input_name: str
    datatype: str
    output: str
    expected: np.ndarray[Any, Any]


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_replica(tmp: Path, *args: str, timeout: float = 60.0) -> Replica:
    """Start `python -m mlkube.serving.replica ARGS`; return once its ready file appears."""
    ready = tmp / f"ready-{time.monotonic_ns()}.json"
    command = [sys.executable, "-m", "mlkube.serving.replica", "--ready-file", str(ready), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def stderr() -> str:
        return process.communicate()[1].decode()

    info = wait_for_ready_file(process, ready, timeout=timeout, what="replica", output=stderr)
    assert info["pid"] == process.pid
    return Replica(process, info["port"])


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("models")
    clf = LogisticRegression(max_iter=1000).fit(X, Y)
    joblib.dump(clf, root / "iris.joblib")
    onnx_dir = root / "onnx"
    onnx_dir.mkdir()
    onx = to_onnx(clf, X[:1].astype(np.float32), options={"zipmap": False})
    (onnx_dir / "model.onnx").write_bytes(onx.SerializeToString())
    booster = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, Y)
    booster.get_booster().save_model(root / "iris.ubj")
    rows32 = ROWS.astype(np.float32)
    return {
        "sklearn": Case(
            "sklearn", root / "iris.joblib", "input-0", "FP64", "predict", clf.predict(ROWS)
        ),
        "onnx": Case("onnx", onnx_dir, "X", "FP32", "probabilities", clf.predict_proba(rows32)),
        "xgboost": Case(
            "xgboost",
            root / "iris.ubj",
            "input-0",
            "FP32",
            "predict",
            booster.predict_proba(rows32),
        ),
    }


@pytest.fixture(scope="module", params=["sklearn", "onnx", "xgboost"])
def served(
    request: pytest.FixtureRequest, cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Case, Replica]]:
    case = cases[request.param]
    replica = start_replica(
        tmp_path_factory.mktemp("run"),
        "--name",
        "iris",
        "--model",
        str(case.path),
        "--format",
        case.format,
    )
    yield case, replica
    assert stop_process(replica.process, timeout=10) == 0


@pytest.fixture
def client(served: tuple[Case, Replica]) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(f"127.0.0.1:{served[1].port}")
    yield c
    c.close()


def triton_input(case: Case, rows: np.ndarray[Any, Any], binary: bool) -> triton.InferInput:
    dtype = np.float64 if case.datatype == "FP64" else np.float32
    infer_input = triton.InferInput(case.input_name, list(rows.shape), case.datatype)
    infer_input.set_data_from_numpy(rows.astype(dtype), binary_data=binary)
    return infer_input


def test_tritonclient_health_and_metadata(
    served: tuple[Case, Replica], client: triton.InferenceServerClient
) -> None:
    case, _ = served
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "1")
    assert not client.is_model_ready("other")
    meta = client.get_model_metadata("iris")
    assert meta["name"] == "iris"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": case.input_name, "datatype": case.datatype, "shape": [-1, 4]}
    ]
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infer(
    served: tuple[Case, Replica], client: triton.InferenceServerClient, binary: bool
) -> None:
    case, _ = served
    outputs = [triton.InferRequestedOutput(case.output, binary_data=binary)]
    result = client.infer(
        "iris", [triton_input(case, ROWS, binary)], outputs=outputs, request_id="r-9"
    )
    np.testing.assert_allclose(result.as_numpy(case.output), case.expected, rtol=1e-5, atol=1e-6)
    assert result.get_response()["id"] == "r-9"
    # No outputs named: tritonclient asks for binary outputs of the model's defaults.
    default = client.infer("iris", [triton_input(case, ROWS, binary)])
    assert default.get_response()["outputs"]


def test_tritonclient_error_carries_the_message(
    served: tuple[Case, Replica], client: triton.InferenceServerClient
) -> None:
    case, _ = served
    with pytest.raises(InferenceServerException) as info:
        client.infer("iris", [triton_input(case, ROWS[:, :3], True)])
    assert info.value.status() == "400"
    assert info.value.message() == (
        f"input '{case.input_name}' of model 'iris' has shape [4, 3], expected [-1, 4] "
        "(4 features per row, got 3)"
    )
    assert client.is_server_live()


def json_infer(
    case: Case, rows: Any, datatype: str | None = None, shape: Any = None
) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": case.input_name,
                "shape": shape or list(np.shape(rows)),
                "datatype": datatype or case.datatype,
                "data": rows,
            }
        ],
        "outputs": [{"name": case.output}],
    }


def test_httpx_json_infer_and_errors(served: tuple[Case, Replica]) -> None:
    case, replica = served
    path = "/v2/models/iris/infer"
    with httpx.Client(base_url=replica.url, timeout=10) as http:
        ok = http.post(path, json=json_infer(case, ROWS.tolist()))
        assert ok.status_code == 200, ok.text
        out = ok.json()["outputs"][0]
        np.testing.assert_allclose(
            np.reshape(out["data"], out["shape"]), case.expected, rtol=1e-5, atol=1e-6
        )
        # Nested and flat data, and an integer datatype cast to the float input.
        flat = http.post(path, json=json_infer(case, ROWS.ravel().tolist(), shape=[4, 4]))
        assert flat.json()["outputs"] == ok.json()["outputs"]
        assert http.post(path, json=json_infer(case, [[5, 3, 1, 0]], "INT32")).status_code == 200

        bad_shape = http.post(path, json=json_infer(case, [[1.0, 2.0]]))
        assert bad_shape.status_code == 400
        assert bad_shape.json()["error"] == (
            f"input '{case.input_name}' of model 'iris' has shape [1, 2], expected [-1, 4] "
            "(4 features per row, got 2)"
        )
        bad_type = http.post(path, json=json_infer(case, [["a", "b", "c", "d"]], "BYTES"))
        assert bad_type.status_code == 400
        assert bad_type.json()["error"].endswith(f"has datatype BYTES, expected {case.datatype}")
        values = http.post(path, json=json_infer(case, [["a", "b", "c", "d"]]))
        assert values.status_code == 400
        assert (
            values.json()["error"]
            == f"input '{case.input_name}' has datatype {case.datatype} but 'data' holds strings"
        )
        malformed = http.post(path, content=b'{"inputs": [')
        assert malformed.status_code == 400
        assert malformed.json()["error"].startswith("malformed JSON in inference request")

        unknown = http.post("/v2/models/nope/infer", json=json_infer(case, ROWS.tolist()))
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "unknown model 'nope'; this server serves 'iris'"}
        version = http.get("/v2/models/iris/versions/2")
        assert version.status_code == 404
        assert version.json() == {"error": "unknown version '2' of model 'iris'; available: 1"}

        again = http.post(path, json=json_infer(case, ROWS.tolist()))
        assert again.status_code == 200
        metrics = http.get("/metrics").text
        assert 'mlkube_model_requests_total{code="400",model="iris",version="1"}' in metrics


def test_a_corrupt_model_exits_1_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "model.joblib"
    bad.write_bytes(b"\x00 not a pickle")
    done = subprocess.run(
        [sys.executable, "-m", "mlkube.serving.replica", "--name", "m", "--model", str(bad)],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.decode().startswith(
        f"mlkube replica: error: cannot load sklearn model from {bad}: "
        "ValueError: not a joblib or pickle file"
    )


def test_a_directory_with_two_models_exits_1_listing_them(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").write_bytes(b"")
    (tmp_path / "b.onnx").write_bytes(b"")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlkube.serving.replica",
            "--name",
            "m",
            "--model",
            str(tmp_path),
            "--format",
            "onnx",
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        f"mlkube replica: error: 2 onnx model files (.onnx) in {tmp_path}, "
        "expected exactly one: a.onnx, b.onnx"
    )
