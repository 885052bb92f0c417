"""Steps on the operator exchanging everything through an S3 object store, as on a real
cluster where a pod sees nothing of the operator's disk: the invocation and the result are
objects, artifacts are `s3://` URIs, and the pods get their S3 credentials from a Secret.

The S3 API is a real one on loopback (`mlkube.testing.s3.S3Server`); the credentials reach
the pods only through the Secret, because this test process's environment has none."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.server.operator import OperatorPlatform
from mlkube.storage.layout import DataDir
from mlkube.storage.objectstore import open_object_store
from mlkube.testing.kube import FakeKubeCluster
from mlkube.testing.s3 import S3Server
from tests.integration.operator.test_operator import (
    TEAM,
    create_run,
    create_team,
    finished,
    shell,
    steps_of,
)

BUCKET = "lake"
STORE = f"s3://{BUCKET}/mlkube"
SECRET = "s3-credentials"


@pytest.fixture
def s3() -> Iterator[S3Server]:
    reach = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    assert not any(k in os.environ for k in reach), "the pods must get S3 from the Secret"
    with S3Server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def s3_operator(
    kube: FakeKubeCluster, api: client.ApiClient, s3: S3Server, tmp_path: Path
) -> Iterator[OperatorPlatform]:
    create_team(api)
    data = {k: base64.b64encode(v.encode()).decode() for k, v in s3.env.items()}
    client.CoreV1Api(api).create_namespaced_secret(
        TEAM, {"metadata": {"name": SECRET}, "data": data}
    )
    settings = ClusterSettings(artifact_store=STORE, artifact_credentials_secret=SECRET)
    platform = OperatorPlatform(
        kube.configuration(),
        data_dir=tmp_path / "data",
        settings=settings,
        artifact_store_options=s3.options,
        health_host="127.0.0.1",
        health_port=0,
    )
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


def test_python_and_command_steps_exchange_artifacts_through_s3(
    s3_operator: OperatorPlatform, api: client.ApiClient, s3: S3Server, tmp_path: Path
) -> None:
    create_run(
        api,
        "lake",
        [
            {
                "name": "make",
                "python": {"module": "mlkube.testing.steps", "function": "make_array"},
                "inputs": [{"name": "n", "value": 1_000}],
            },
            {
                "name": "count",
                "python": {"module": "mlkube.testing.steps", "function": "length"},
                "inputs": [{"name": "data", "fromStep": "make"}],
            },
            shell("write", "head -c 100000 /dev/zero | tr '\\0' x > $MLKUBE_OUTPUTS_DIR/output"),
            shell(
                "read",
                "wc -c < {{inputs.text}} > $MLKUBE_OUTPUTS_DIR/output",
                inputs=[{"name": "text", "fromStep": "write"}],
            ),
        ],
    )
    run = finished(api, "lake", timeout=90)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    steps = steps_of(run)
    assert steps["count"]["outputs"] == [{"name": "output", "value": 256_000}]
    assert steps["read"]["outputs"] == [{"name": "output", "value": 100_000}]
    store = open_object_store(STORE, options=s3.options)
    for producer in ("make", "write"):
        [output] = steps[producer]["outputs"]
        uri = output["artifact"]["uri"]
        assert uri.startswith(f"{STORE}/sha256/"), uri
        assert store.exists(uri.removeprefix(f"{STORE}/"))
    # The attempts' invocations and results are objects in the store, not files on the
    # operator's disk; the attempt folders hold only the logs copied out of the pods.
    uid8 = run["metadata"]["uid"][:8]
    assert store.exists(f"attempts/{TEAM}/lake/{uid8}/count/1/result.json")
    data = DataDir(tmp_path / "data")
    files = {p.name for p in data.run_dir(TEAM, "lake").rglob("*") if p.is_file()}
    assert files == {"log"}


def test_a_failing_step_reports_its_error_from_the_result_object(
    s3_operator: OperatorPlatform, api: client.ApiClient
) -> None:
    create_run(
        api,
        "broken",
        [
            {
                "name": "boom",
                "python": {"module": "mlkube.testing.steps", "function": "fail"},
                "inputs": [{"name": "message", "value": "no data today"}],
            }
        ],
    )
    run = finished(api, "broken")
    step = steps_of(run)["boom"]
    assert run["status"]["phase"] == "Failed"
    assert "no data today" in step["message"], step


CODE = """
class Summary:
    def __init__(self, total):
        self.total = total


def summarize(n):
    return Summary(sum(range(n)))


def report(summary):
    return summary.total
"""


def test_steps_run_from_the_source_the_run_carries_where_their_file_is_not(
    s3_operator: OperatorPlatform, api: client.ApiClient, tmp_path: Path
) -> None:
    """As on a real cluster, the pods cannot see the submitter's file (it is deleted before
    the run starts): the executor imports the text shipped in the run, and an object of a
    class defined there, pickled by one step, loads in the next."""
    module = tmp_path / "laptop" / "analysis.py"

    def call(function: str, **extra: object) -> dict[str, object]:
        python = {"module": str(module), "function": function, "source": CODE}
        return {"name": function, "python": python, **extra}

    create_run(
        api,
        "shipped",
        [
            call("summarize", inputs=[{"name": "n", "value": 100}]),
            call("report", inputs=[{"name": "summary", "fromStep": "summarize"}]),
        ],
    )
    assert not module.exists()
    run = finished(api, "shipped")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    steps = steps_of(run)
    assert steps["summarize"]["outputs"][0]["artifact"]["uri"].startswith(f"{STORE}/sha256/")
    assert steps["report"]["outputs"] == [{"name": "output", "value": 4950}]
