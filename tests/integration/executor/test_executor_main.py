"""`python -m mlkube.executor` as a pod runs it: a real subprocess configured only by its
environment, artifacts and the result in S3 (moto's server on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlkube.runtime.kubernetes import ClusterSettings, step_job
from mlkube.storage.artifacts import ObjectArtifactStore, open_artifact_store
from mlkube.storage.objectstore import read_uri, write_uri
from mlkube.testing.s3 import S3Server
from tests.unit.kube_objects.specs import attempt, env, python_step

STEPS = '''
import pathlib

def scale(rows, factor):
    """A large list in, a large list and a small summary out."""
    scaled = [r * factor for r in rows]
    return scaled, {"n": len(scaled)}

def read_text(path):
    return pathlib.Path(path).read_text().upper()

def boom():
    raise ValueError("the data was bad")
'''


class Pod:
    """What a step pod is given: its environment (S3 credentials included) and a /tmp."""

    def __init__(self, server: S3Server, bucket: str, tmp_path: Path) -> None:
        self.server, self.tmp_path = server, tmp_path
        self.store_root = f"{bucket}/lake"
        self.result_uri = f"{bucket}/attempts/ns/run/step/1/result.json"
        self.scratch = tmp_path / "scratch"
        self.scratch.mkdir()
        self.module = tmp_path / "steps.py"
        self.module.write_text(STEPS)

    def artifacts(self) -> ObjectArtifactStore:
        store = open_artifact_store(self.store_root, options=self.server.options)
        assert isinstance(store, ObjectArtifactStore)
        store.cache_dir = self.tmp_path / "test-cache"
        return store

    def env(self, invocation: dict[str, Any] | None) -> dict[str, str]:
        env = {"PATH": os.environ["PATH"], "TMPDIR": str(self.scratch), **self.server.env}
        env["MLKUBE_ARTIFACT_STORE"] = self.store_root
        env["MLKUBE_RESULT_URI"] = self.result_uri
        if invocation is not None:
            env["MLKUBE_INVOCATION"] = json.dumps(invocation)
        return env

    def run(self, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "mlkube.executor"]
        return subprocess.run(argv, env=env, cwd=self.tmp_path, capture_output=True, text=True)

    def result(self) -> dict[str, Any] | None:
        data = read_uri(self.result_uri, options=self.server.options)
        return None if data is None else json.loads(data)

    def python(self, function: str, inputs: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
        return {
            "inputs": inputs,
            "outputs": outputs,
            "python": {"module": str(self.module), "function": function},
        }


@pytest.fixture
def pod(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> Pod:
    return Pod(s3_server, s3_bucket, tmp_path)


def test_a_python_step_reads_and_writes_s3_artifacts(pod: Pod) -> None:
    rows = pod.artifacts().put_object(list(range(20_000)))
    inputs = {"rows": {"artifact": rows.to_dict()}, "factor": {"value": 3}}
    done = pod.run(pod.env(pod.python("scale", inputs, ["scaled", "summary"])))
    assert done.returncode == 0, done.stderr
    result = pod.result()
    assert result is not None
    scaled, summary = result["outputs"]
    assert summary == {"name": "summary", "value": {"n": 20_000}}
    assert scaled["artifact"]["uri"].startswith(f"{pod.store_root}/sha256/")
    assert pod.artifacts().load_object(scaled["artifact"]["uri"]) == [r * 3 for r in range(20_000)]


def test_a_command_step_gets_files_as_paths_and_uploads_its_output_files(pod: Pod) -> None:
    source = pod.tmp_path / "words.txt"
    source.write_text("hello object store\n")
    words = pod.artifacts().put_file(source)
    invocation = {
        "inputs": {"words": {"artifact": words.to_dict()}},
        "outputs": ["upper", "count"],
        "command": ["sh", "-c"],
        "args": [
            "tr a-z A-Z < {{inputs.words}} > {{outputs.upper}} && "
            'wc -w < "$MLKUBE_INPUT_WORDS" > $MLKUBE_OUTPUTS_DIR/count'
        ],
    }
    done = pod.run(pod.env(invocation))
    assert done.returncode == 0, done.stderr
    result = pod.result()
    assert result is not None
    upper, count = result["outputs"]
    assert count == {"name": "count", "value": 3}
    assert upper["artifact"]["format"] == "file"
    assert upper["artifact"]["uri"].startswith(f"{pod.store_root}/sha256/")
    uploaded = pod.artifacts().local_path(upper["artifact"]["uri"])
    assert uploaded.read_text() == "HELLO OBJECT STORE\n"
    assert not list(pod.scratch.glob("mlkube-outputs-*"))  # its own folder, removed after


def test_the_environment_of_a_step_job_runs_the_step(pod: Pod) -> None:
    """The contract end to end: the Job's own env (plus credentials) is all the pod needs."""
    rows = pod.artifacts().put_object(list(range(20_000)))
    inputs = {"rows": {"artifact": rows.to_dict()}, "factor": {"value": 2}}
    step = python_step(python={"module": str(pod.module), "function": "scale"})
    step["outputs"] = ["scaled", "summary"]
    settings = ClusterSettings(image="mlkube:test", artifact_store=pod.store_root)
    job_env = env(step_job(attempt(step, inputs=inputs), settings))
    done = pod.run({**pod.env(None), **job_env})
    assert done.returncode == 0, done.stderr
    result = read_uri(job_env["MLKUBE_RESULT_URI"], options=pod.server.options)
    assert result is not None
    scaled, summary = json.loads(result)["outputs"]
    assert summary["value"] == {"n": 20_000}
    assert pod.artifacts().load_object(scaled["artifact"]["uri"])[-1] == 39_998


def test_a_python_step_gets_a_file_artifact_as_a_local_path(pod: Pod) -> None:
    source = pod.tmp_path / "in.txt"
    source.write_text("abc")
    text = pod.artifacts().put_file(source)
    invocation = pod.python("read_text", {"path": {"artifact": text.to_dict()}}, ["output"])
    done = pod.run(pod.env(invocation))
    assert done.returncode == 0, done.stderr
    assert pod.result() == {"outputs": [{"name": "output", "value": "ABC"}]}


def test_a_failing_python_step_writes_an_error_result_and_exits_1(pod: Pod) -> None:
    done = pod.run(pod.env(pod.python("boom", {}, [])))
    assert done.returncode == 1
    assert "ValueError: the data was bad" in done.stderr  # the traceback goes to the log
    assert pod.result() == {"error": {"type": "ValueError", "message": "the data was bad"}}


def test_a_failing_command_exits_with_its_code(pod: Pod) -> None:
    done = pod.run(pod.env({"inputs": {}, "outputs": ["x"], "command": ["sh", "-c", "exit 3"]}))
    assert done.returncode == 3
    assert pod.result() == {"error": {"type": "ExitCode", "message": "exit code 3"}}


def test_a_local_artifact_with_an_s3_store_fails_the_step_clearly(pod: Pod) -> None:
    local = open_artifact_store(str(pod.tmp_path / "local")).put_object([1, 2])
    invocation = pod.python("scale", {"rows": {"artifact": local.to_dict()}}, ["a", "b"])
    done = pod.run(pod.env(invocation))
    assert done.returncode == 1
    result = pod.result()
    assert result is not None and result["error"]["type"] == "ValueError"
    assert f"{local.uri!r} is not in this artifact store" in result["error"]["message"]


def test_the_invocation_can_be_read_from_a_uri(pod: Pod) -> None:
    uri = pod.result_uri.replace("result.json", "invocation.json")
    inputs = {"rows": {"value": [1, 2]}, "factor": {"value": 2}}
    invocation = pod.python("scale", inputs, ["scaled", "summary"])
    write_uri(uri, json.dumps(invocation).encode(), options=pod.server.options)
    done = pod.run({**pod.env(None), "MLKUBE_INVOCATION_URI": uri})
    assert done.returncode == 0, done.stderr
    assert pod.result() == {
        "outputs": [{"name": "scaled", "value": [2, 4]}, {"name": "summary", "value": {"n": 2}}]
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MLKUBE_INVOCATION": None}, "MLKUBE_INVOCATION (the invocation as JSON) or"),
        ({"MLKUBE_INVOCATION": "{not json"}, "MLKUBE_INVOCATION: not valid JSON"),
        ({"MLKUBE_INVOCATION": "[1]"}, "MLKUBE_INVOCATION: must be a JSON object, got list"),
        ({"MLKUBE_INVOCATION_URI": "s3://x/y"}, "set only one of MLKUBE_INVOCATION and"),
        ({"MLKUBE_ARTIFACT_STORE": None}, "MLKUBE_ARTIFACT_STORE: required"),
        ({"MLKUBE_RESULT_URI": None}, "MLKUBE_RESULT_URI: required"),
        ({"MLKUBE_INVOCATION": '{"inputs": {}}'}, "needs `python` or a non-empty `command`"),
        ({"MLKUBE_INVOCATION": '{"outputs": "x"}'}, "`outputs` must be a list of names"),
    ],
)
def test_an_unusable_environment_exits_2_and_writes_nothing(
    pod: Pod, change: dict[str, str | None], message: str
) -> None:
    env = pod.env({"inputs": {}, "outputs": [], "command": ["true"]})
    for name, value in change.items():
        if value is None:
            del env[name]
        else:
            env[name] = value
    done = pod.run(env)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.startswith("mlkube.executor: ")
    assert pod.result() is None


def test_a_missing_invocation_uri_exits_2(pod: Pod) -> None:
    env = {**pod.env(None), "MLKUBE_INVOCATION_URI": f"{pod.store_root}/none.json"}
    done = pod.run(env)
    assert done.returncode == 2
    assert f"MLKUBE_INVOCATION_URI: nothing at {pod.store_root}/none.json" in done.stderr


def test_a_step_passing_small_values_never_imports_fsspec(tmp_path: Path) -> None:
    check = textwrap.dedent(f"""
        import sys
        from mlkube.executor.step import run_invocation
        code = run_invocation({{
            "inputs": {{"x": {{"value": 2}}}}, "outputs": ["output"],
            "command": ["sh", "-c", "echo {{{{inputs.x}}}} > $MLKUBE_OUTPUTS_DIR/output"],
            "artifactsRoot": {str(tmp_path / "artifacts")!r},
            "resultPath": {str(tmp_path / "result.json")!r},
        }})
        assert code == 0, code
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("fsspec", "s3fs")))
    """)
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "outputs": [{"name": "output", "value": 2}]
    }
