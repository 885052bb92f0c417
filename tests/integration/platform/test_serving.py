"""InferenceServices on the real embedded platform: router, replica processes, autoscaling."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
import tritonclient.http as triton
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mlkube.sdk.client import Client

from .conftest import UpProcess, run_body, wait_finished, wait_for

STEPS = str(Path(__file__).with_name("serving_steps.py"))
FEATURES, LABELS = load_iris(return_X_y=True)
ROWS = FEATURES[[0, 60, 120]]


def _iris_model(path: Path) -> str:
    joblib.dump(LogisticRegression(max_iter=500).fit(FEATURES, LABELS), path)
    return str(path)


def _constant_model(path: Path, label: int) -> str:
    joblib.dump(DummyClassifier(strategy="constant", constant=label).fit(FEATURES, LABELS), path)
    return str(path)


def _isvc(name: str, uri: str, **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri},
                **predictor,
            }
        },
    }


def _ready(client: Client, name: str, *, reason: str | None = None) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = client.get("inferenceservices", name)
        conditions = (obj.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c["type"] == "Ready"), {})
        if ready.get("status") == "True" and (reason is None or ready.get("reason") == reason):
            return obj
        return None

    result: dict[str, Any] = wait_for(check, timeout=60, what=f"isvc {name} ready ({reason})")
    return result


def _infer(url: str, name: str, rows: np.ndarray = ROWS, **kwargs: Any) -> httpx.Response:
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.ravel().tolist(),
            }
        ]
    }
    return httpx.post(f"{url}/v2/models/{name}/infer", json=body, timeout=60, **kwargs)


def _predictions(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    output = next(o for o in response.json()["outputs"] if o["name"] == "predict")
    return [int(v) for v in output["data"]]


def test_a_model_file_is_served_over_the_open_inference_protocol(
    client: Client, tmp_path: Path
) -> None:
    model = LogisticRegression(max_iter=500).fit(FEATURES, LABELS)
    joblib.dump(model, tmp_path / "iris.joblib")
    client.create(_isvc("iris", str(tmp_path / "iris.joblib")))
    obj = _ready(client, "iris", reason="Serving")
    url = obj["status"]["url"]
    assert _predictions(_infer(url, "iris")) == model.predict(ROWS).tolist()

    # A standard client works against the same URL, binary tensors and all.
    triton_client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert triton_client.is_server_live() and triton_client.is_model_ready("iris")
    assert triton_client.get_model_metadata("iris")["inputs"][0]["shape"] == [-1, 4]
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=True)
    result = triton_client.infer("iris", [tensor])
    assert result.as_numpy("predict").tolist() == model.predict(ROWS).tolist()

    bad = _infer(url, "iris", rows=np.ones((2, 3)))
    assert bad.status_code == 400 and "input-0" in bad.json()["error"]
    assert _infer(url, "nope").status_code in (404, 400)
    assert _predictions(_infer(url, "iris")) == model.predict(ROWS).tolist()


def test_a_model_trained_by_a_pipeline_goes_live_from_its_run(client: Client) -> None:
    step = {"name": "train", "python": {"module": STEPS, "function": "train_iris"}}
    client.create(run_body("train-run", [step]))
    assert wait_finished(client, "train-run", timeout=120)["status"]["phase"] == "Succeeded"
    client.create(_isvc("from-run", "pipelinerun://train-run/train/output"))
    url = _ready(client, "from-run")["status"]["url"]
    assert _predictions(_infer(url, "from-run")) == [0, 1, 2]


def test_a_killed_replica_is_replaced_while_the_other_keeps_answering(
    client: Client, tmp_path: Path
) -> None:
    uri = _iris_model(tmp_path / "iris.joblib")
    client.create(_isvc("pair", uri, minReplicas=2, maxReplicas=2))
    obj = wait_for(
        lambda: (
            (o := client.get("inferenceservices", "pair")).get("status", {}).get("readyReplicas")
            == 2
            and o
        ),
        timeout=60,
        what="two ready replicas",
    )
    url = obj["status"]["url"]
    ready_files = sorted((tmp_path / "data" / "serving").rglob("ready.json"))
    victim = json.loads(ready_files[0].read_text())["pid"]
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):
        assert _predictions(_infer(url, "pair")) == [0, 1, 2]

    def replaced() -> bool:
        status = client.get("inferenceservices", "pair")["status"]
        return status["readyReplicas"] == 2 and status["revisions"][0]["restarts"] == 1

    wait_for(replaced, timeout=60, what="the killed replica replaced")


def test_an_idle_service_scales_to_zero_and_the_first_request_wakes_it(
    client: Client, tmp_path: Path
) -> None:
    uri = _iris_model(tmp_path / "iris.joblib")
    client.create(
        _isvc(
            "sleepy",
            uri,
            minReplicas=0,
            maxReplicas=1,
            scaleToZeroAfterSeconds=1,
            scaleDownDelaySeconds=0,
        )
    )
    url = _ready(client, "sleepy", reason="Serving")["status"]["url"]
    status = _ready(client, "sleepy", reason="ScaledToZero")["status"]
    assert (status["replicas"], status["readyReplicas"]) == (0, 0)
    # No replica runs now: the router holds the request until one is ready.
    assert _predictions(_infer(url, "sleepy")) == [0, 1, 2]
    assert client.get("inferenceservices", "sleepy")["status"]["readyReplicas"] == 1


def test_a_corrupt_model_is_reported_and_nothing_else_breaks(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "broken.joblib").write_bytes(b"this is not a pickle")
    client.create(_isvc("broken", str(tmp_path / "broken.joblib")))

    def failed() -> dict[str, Any] | None:
        status = client.get("inferenceservices", "broken").get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        return ready if ready.get("reason") == "ReplicaFailed" else None

    ready = wait_for(failed, timeout=60, what="ReplicaFailed")
    assert "broken.joblib" in ready["message"]
    assert client.list("namespaces")  # the platform still answers


def test_a_canary_takes_its_share_then_promotion_moves_everything(
    client: Client, tmp_path: Path
) -> None:
    zero, one = (
        _constant_model(tmp_path / "zero.joblib", 0),
        _constant_model(tmp_path / "one.joblib", 1),
    )
    client.create(_isvc("ab", zero))
    url = _ready(client, "ab")["status"]["url"]
    client.patch(
        "inferenceservices",
        "ab",
        {"spec": {"predictor": {"model": {"storageUri": one}, "canaryTrafficPercent": 30}}},
    )

    def both_ready() -> bool:
        revisions = client.get("inferenceservices", "ab")["status"].get("revisions") or []
        return len(revisions) == 2 and all(r["readyReplicas"] == 1 for r in revisions)

    wait_for(both_ready, timeout=60, what="both revisions ready")
    answers = Counter(_predictions(_infer(url, "ab", rows=ROWS[:1]))[0] for _ in range(200))
    assert 30 <= answers[1] <= 90, answers  # 30% of 200, with a wide margin

    client.patch("inferenceservices", "ab", {"spec": {"predictor": {"canaryTrafficPercent": None}}})

    def promoted() -> bool:
        revisions = client.get("inferenceservices", "ab")["status"].get("revisions") or []
        return [r["percent"] for r in revisions] == [100]

    wait_for(promoted, timeout=60, what="promotion")
    assert {_predictions(_infer(url, "ab", rows=ROWS[:1]))[0] for _ in range(20)} == {1}


@pytest.mark.parametrize("header", ["host"])
def test_the_router_also_routes_by_host_name(client: Client, tmp_path: Path, header: str) -> None:
    client.create(_isvc("byhost", _iris_model(tmp_path / "iris.joblib")))
    url = _ready(client, "byhost")["status"]["url"]
    base = url.split("/serving/")[0]
    response = _infer(base, "byhost", headers={"Host": "byhost.default.example.com"})
    assert _predictions(response) == [0, 1, 2]


def test_a_router_that_dies_comes_back_on_the_same_url_with_its_routes(
    client: Client, tmp_path: Path
) -> None:
    client.create(_isvc("sturdy", _iris_model(tmp_path / "iris.joblib")))
    url = _ready(client, "sturdy")["status"]["url"]
    ready = json.loads((tmp_path / "data" / "serving" / "router.ready").read_text())
    os.kill(ready["pid"], signal.SIGKILL)

    def answers() -> bool:
        try:
            return _infer(url, "sturdy").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, timeout=30, what="the restarted router to serve the old URL")
    assert _predictions(_infer(url, "sturdy")) == [0, 1, 2]


def test_mlkube_serve_creates_canaries_promotes_and_lists(up: UpProcess, tmp_path: Path) -> None:
    first = _constant_model(tmp_path / "zero.joblib", 0)
    second = _constant_model(tmp_path / "one.joblib", 1)
    missing = up.cli("serve", "nope")
    assert missing.returncode != 0 and "give --model" in missing.stderr

    created = up.cli("serve", "ab", "--model", first, "--max-replicas", "2")
    assert created.returncode == 0, created.stderr
    assert "inferenceservice.mlkube.io/ab created" in created.stdout
    url = created.stdout.split("ready: ", 1)[1].split()[0]
    assert _predictions(_infer(url, "ab", rows=ROWS[:1])) == [0]

    canary = up.cli("serve", "ab", "--model", second, "--canary-percent", "25")
    assert canary.returncode == 0, canary.stderr
    assert "traffic: ab-predictor-00001 75%, ab-predictor-00002 25%" in canary.stdout
    with up.client() as client:
        predictor = client.get("inferenceservices", "ab")["spec"]["predictor"]
    assert predictor["maxReplicas"] == 2  # fields not given are kept

    promoted = up.cli("serve", "ab", "--promote")
    assert promoted.returncode == 0, promoted.stderr
    with up.client() as client:
        wait_for(
            lambda: (
                [r["percent"] for r in client.get("inferenceservices", "ab")["status"]["revisions"]]
                == [100]
            ),
            what="promotion",
        )
    listed = up.cli("get", "isvc")
    assert listed.returncode == 0
    assert listed.stdout.split()[:6] == [
        "NAME",
        "URL",
        "READY",
        "REPLICAS",
        "TRAFFIC",
        "(REVISION:%)",
    ]
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("ab "))
    assert row[:5] == ["ab", url, "True", "1/1", "2:100%"]
