"""`mlkube up --artifact-store s3://...`: the embedded platform keeps step artifacts in an
object store (a data lake) instead of under its data folder. The S3 API is a real one on
loopback; `mlkube up` and its steps find it the AWS way, from the environment."""

from __future__ import annotations

from pathlib import Path

from mlkube.storage.objectstore import open_object_store
from mlkube.testing.s3 import S3Server
from tests.integration.platform.conftest import UpProcess, py, run_body, step_of, wait_finished
from tests.integration.platform.test_serving import STEPS, _infer, _isvc, _predictions, _ready

STORE = "s3://lake/team-data"


def test_steps_and_model_services_use_artifacts_in_the_object_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    up = UpProcess(home)
    with S3Server() as s3:
        s3.create_bucket("lake")
        up.env.update(s3.env)
        up.start("--artifact-store", STORE)
        try:
            with up.client() as client:
                steps = [
                    py("make", "make_array", inputs=[{"name": "n", "value": 1000}]),
                    py("count", "length", inputs=[{"name": "data", "fromStep": "make"}]),
                ]
                client.create(run_body("lake", steps))
                run = wait_finished(client, "lake")
                # A model a step wrote to the lake is served: the replica fetches it.
                train = {"name": "train", "python": {"module": STEPS, "function": "train_iris"}}
                client.create(run_body("train-run", [train]))
                trained = wait_finished(client, "train-run", timeout=120)
                assert trained["status"]["phase"] == "Succeeded", trained["status"]
                client.create(_isvc("from-lake", "pipelinerun://train-run/train/output"))
                url = _ready(client, "from-lake")["status"]["url"]
                assert _predictions(_infer(url, "from-lake")) == [0, 1, 2]
        finally:
            up.stop()
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert step_of(run, "count")["outputs"] == [{"name": "output", "value": 256_000}]
        [made] = step_of(run, "make")["outputs"]
        uri = made["artifact"]["uri"]
        assert uri.startswith(f"{STORE}/sha256/"), uri
        store = open_object_store(STORE, options=s3.options)
        assert store.exists(uri.removeprefix(f"{STORE}/"))
    artifacts = home / "data" / "artifacts"
    assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*"))


def test_an_artifact_store_mlkube_cannot_open_stops_mlkube_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = UpProcess(home).cli("up", "--port", "0", "--artifact-store", "s3://")
    assert done.returncode == 2
    assert "Invalid value for --artifact-store" in done.stderr
    assert "must name a bucket" in done.stderr
