"""The operator end to end against the fake cluster, driven through the official client only:
our kinds as custom objects in, pods run by the fake kubelet, statuses back.

(The queueing scenarios, a run held by quota and a preempted run requeued, run against the
operator in tests/contract/test_platform_contract.py, with the embedded platform beside it.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client

from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL, pod_name
from mlkube.server.operator import OperatorPlatform
from mlkube.storage.layout import DataDir
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.conftest import NODES, start_operator
from tests.integration.platform.conftest import wait_for

MLKUBE = str(Path(sys.executable).with_name("mlkube"))
GROUP, VERSION = "mlkube.io", "v1alpha1"
TEAM = "team-a"


def create_run(api: client.ApiClient, name: str, steps: list[dict[str, Any]]) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineSpec": {"steps": steps}, "cache": False},
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, TEAM, "pipelineruns", body
    )


def get_run(api: client.ApiClient, name: str) -> dict[str, Any]:
    run: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, TEAM, "pipelineruns", name
    )
    return run


def finished(api: client.ApiClient, name: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = get_run(api, name)
        return run if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"run {name} to finish")
    return result


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["status"]["steps"]}


def create_team(api: client.ApiClient) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})


def shell(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": ["sh", "-c", script], **extra}


def health(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_a_pipeline_runs_as_pods_and_passes_its_output_on(
    operator: OperatorPlatform, api: client.ApiClient, tmp_path: Path
) -> None:
    create_team(api)
    create_run(
        api,
        "flow",
        [
            shell("first", "echo in $HOSTNAME; echo 21 > $MLKUBE_OUTPUTS_DIR/output"),
            {
                "name": "second",
                "python": {"module": "mlkube.testing.steps", "function": "add"},
                "inputs": [{"name": "a", "fromStep": "first"}, {"name": "b", "value": 21}],
            },
        ],
    )
    run = finished(api, "flow")
    steps = steps_of(run)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert steps["second"]["outputs"] == [{"name": "output", "value": 42}]
    # The first step ran in its own pod (the fake kubelet sets HOSTNAME to the pod's name);
    # its log was copied next to its result, as on one machine.
    uid8 = run["metadata"]["uid"][:8]
    log = DataDir(tmp_path / "data").attempt_dir(TEAM, "flow", "first", 1) / "log"
    assert log.read_text() == f"in {pod_name(f'{TEAM}/flow/{uid8}/first/1')}\n"
    core = client.CoreV1Api(api)
    # Finished pods are kept for their logs (`mlkube logs`, `kubectl logs`) while the run
    # exists: owned by it, they go with it (tests/integration/operator/test_cluster_logs.py).
    # No Node of ours is written.
    pods = core.list_namespaced_pod(TEAM, label_selector=WORKLOAD_LABEL).items
    assert sorted(p.status.phase for p in pods) == ["Succeeded", "Succeeded"]
    assert {r.name for p in pods for r in p.metadata.owner_references} == {"flow"}
    assert sorted(n.metadata.name for n in core.list_node().items) == sorted(n.name for n in NODES)
    assert health(operator.health_port, "/healthz") == 200
    assert health(operator.health_port, "/readyz") == 200
    assert health(operator.health_port, "/metrics") == 404


def test_a_restarted_operator_adopts_the_running_step(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    create_team(api)
    runs, release = tmp_path / "runs", tmp_path / "release"
    script = f"echo x >> {runs}; while [ ! -e {release} ]; do sleep 0.05; done"
    first = start_operator(kube, tmp_path)
    try:
        create_run(api, "long", [shell("wait", script)])
        wait_for(runs.exists, what="the step to start")
    finally:
        first.stop()
    [pod] = client.CoreV1Api(api).list_namespaced_pod(TEAM, label_selector=WORKLOAD_LABEL).items
    assert pod.status.phase == "Running"  # the operator's exit did not kill the work
    second = start_operator(kube, tmp_path)
    try:
        release.touch()
        run = finished(api, "long")
    finally:
        second.stop()
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert steps_of(run)["wait"]["attempts"] == 1
    assert runs.read_text() == "x\n"  # adopted, not started a second time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mlkube_operator_runs_from_a_kubeconfig_and_stops_on_sigterm(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "operator.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    # Leader election is on by default: its Lease lives in the operator's namespace.
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "mlkube-system"}})
    proc = subprocess.Popen(
        [
            MLKUBE,
            "operator",
            "--kubeconfig",
            str(kube.kubeconfig_path),
            "--health-port",
            str(port),
            "--webhook-port",
            "0",
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        wait_for(lambda: _ready(port, proc), what="the operator to be ready")
        create_team(api)
        create_run(api, "hello", [shell("hi", "echo 1 > $MLKUBE_OUTPUTS_DIR/output")])
        run = finished(api, "hello")
        assert steps_of(run)["hi"]["outputs"] == [{"name": "output", "value": 1}]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert (
        "mlkube operator (mlkube-system) running against" in (tmp_path / "operator.log").read_text()
    )


def _ready(port: int, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"mlkube operator exited with {proc.returncode}")
    try:
        return health(port, "/readyz") == 200
    except OSError:
        return False


def test_a_kubeconfig_without_the_context_asked_for_is_a_clear_error(
    kube: FakeKubeCluster,
) -> None:
    result = subprocess.run(
        [MLKUBE, "operator", "--kubeconfig", str(kube.kubeconfig_path), "--context", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"cannot use --kubeconfig {kube.kubeconfig_path}" in result.stderr
    assert "nope" in result.stderr
