"""The fake kubelet's pod lifecycle: graceful deletion, restarts, the downward API."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlkube.testing.kube import FakeKubeCluster
from tests.integration.fake_kube.conftest import alive, container, pids_in, python, wait_for

NS = "default"


def pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    main = container(command, **spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [main], **spec},
    }


def phase(core: client.CoreV1Api, name: str) -> str:
    return str(core.read_namespaced_pod(name, NS).status.phase)


def gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespaced_pod(name, NS)
    except ApiException as err:
        return err.status == 404
    return False


def test_a_deleted_pod_is_terminating_until_its_process_is_killed(
    api: client.ApiClient, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    pids = tmp_path / "pids"
    # The process ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    code = (
        "import os, pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"d = pathlib.Path({str(pids)!r}); d.mkdir(exist_ok=True); (d / str(os.getpid())).touch(); "
        "time.sleep(600)"
    )
    core.create_namespaced_pod(NS, pod("stubborn", python(code), terminationGracePeriodSeconds=2))
    [pid] = wait_for(lambda: pids_in(pids), what="the process")
    wait_for(lambda: phase(core, "stubborn") == "Running", what="Running")
    core.delete_namespaced_pod("stubborn", NS)
    terminating = core.read_namespaced_pod("stubborn", NS)
    assert terminating.metadata.deletion_timestamp is not None and alive(pid)
    wait_for(lambda: gone(core, "stubborn"), timeout=15, what="the pod to go")
    assert not alive(pid)


def test_restart_policy_always_restarts_the_container(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, pod("crashy", python("print('run'); raise SystemExit(1)")))
    status = wait_for(
        lambda: (
            (s := core.read_namespaced_pod("crashy", NS).status.container_statuses)
            and s[0].restart_count >= 1
            and s[0]
        ),
        what="a restart",
    )
    assert status.last_state.terminated.exit_code == 1
    assert phase(core, "crashy") == "Running"  # a restarting pod stays Running, as upstream


def test_the_environment_comes_from_values_the_downward_api_and_secrets(
    api: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api)
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"),
        data={"token": base64.b64encode(b"s3cr3t").decode()},
    )
    core.create_namespaced_secret(NS, secret)
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "TWICE", "value": "$(GREETING) $(GREETING)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['role']"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
    ]
    names = ("TWICE", "POD", "IP", "ROLE", "TOKEN")
    code = f"import os; print(*(os.environ[k] for k in {names!r}), sep='|')"
    body = pod("envy", python(code), restartPolicy="Never", container={"env": env})
    body["metadata"]["annotations"] = {"role": "worker"}
    core.create_namespaced_pod(NS, body)
    wait_for(lambda: phase(core, "envy") == "Succeeded", what="the pod to finish")
    assert core.read_namespaced_pod_log("envy", NS) == "hello hello|envy|127.0.0.1|worker|s3cr3t\n"


def test_a_container_without_a_command_fails_to_start(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = pod("imageonly", [], restartPolicy="Never")
    del body["spec"]["containers"][0]["command"]
    core.create_namespaced_pod(NS, body)
    wait_for(lambda: phase(core, "imageonly") == "Failed", what="the start to fail")
    terminated = (
        core.read_namespaced_pod("imageonly", NS).status.container_statuses[0].state.terminated
    )
    assert (terminated.exit_code, terminated.reason) == (128, "StartError")
    assert "runs no images" in terminated.message


def test_deleting_a_namespace_deletes_its_content(
    api: client.ApiClient, kube: FakeKubeCluster
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a")))
    core.create_namespaced_config_map(
        "team-a", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    core.delete_namespace("team-a")
    wait_for(
        lambda: core.list_namespaced_config_map("team-a").items == [], what="the content to go"
    )
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(
            "team-a", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="d"))
        )
    assert caught.value.status == 404
