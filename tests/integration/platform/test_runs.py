"""Pipelines on the real embedded platform: processes, SQLite, HTTP on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlkube.api.errors import Invalid, NotFound
from mlkube.runtime.base import GpuDevice
from mlkube.runtime.local.runtime import LocalRuntime
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import (
    process_alive,
    py,
    run_body,
    step_of,
    wait_finished,
    wait_for,
)


def test_values_and_artifacts_flow_between_processes(client: Client) -> None:
    client.create(
        run_body(
            "flow",
            [
                py("make", "make_array", inputs=[{"name": "n", "value": 1000}]),
                py("measure", "length", inputs=[{"name": "data", "fromStep": "make"}]),
                {
                    "name": "shell",
                    "command": [
                        "sh",
                        "-c",
                        "echo $MLKUBE_INPUT_N; echo {{inputs.n}} > $MLKUBE_OUTPUTS_DIR/output",
                    ],
                    "inputs": [{"name": "n", "fromStep": "measure"}],
                },
            ],
        )
    )
    run = wait_finished(client, "flow")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    artifact = step_of(run, "make")["outputs"][0]["artifact"]
    assert artifact["size"] > 256_000 and artifact["digest"].startswith("sha256:")
    assert step_of(run, "measure")["outputs"] == [{"name": "output", "value": 256_000}]
    assert step_of(run, "shell")["outputs"] == [{"name": "output", "value": 256_000}]
    log = "".join(client.logs("flow", step="shell"))
    assert log.strip() == "256000"


def test_cpu_requests_pin_the_step(client: Client) -> None:
    client.create(run_body("pin", [py("where", "affinity", resources={"cpu": "1"})]))
    run = wait_finished(client, "pin")
    step = step_of(run, "where")
    assert step["outputs"][0]["value"] == step["placement"]["cpus"]
    assert len(step["placement"]["cpus"]) == 1


def test_memory_limit_kills_with_oomkilled(client: Client) -> None:
    client.create(
        run_body(
            "oom",
            [
                py(
                    "hog",
                    "allocate",
                    inputs=[{"name": "megabytes", "value": 400}],
                    resources={"memory": "128Mi"},
                ),
            ],
        )
    )
    run = wait_finished(client, "oom")
    step = step_of(run, "hog")
    assert (step["phase"], step["reason"]) == ("Failed", "OOMKilled"), step


def test_a_crashing_step_fails_with_its_error_and_retries(client: Client, tmp_path: Path) -> None:
    counter = str(tmp_path / "calls")
    client.create(
        run_body(
            "flaky",
            [
                py(
                    "flaky",
                    "flaky",
                    inputs=[
                        {"name": "counter", "value": counter},
                        {"name": "failures", "value": 1},
                    ],
                    retries={"limit": 1, "backoffSeconds": 0.1},
                ),
                py("boom", "fail", inputs=[{"name": "message", "value": "no such column"}]),
            ],
            cache=False,
        )
    )
    run = wait_finished(client, "flaky")
    assert step_of(run, "flaky")["phase"] == "Succeeded"
    assert step_of(run, "flaky")["attempts"] == 2
    boom = step_of(run, "boom")
    assert (boom["phase"], boom["reason"], boom["message"]) == (
        "Failed",
        "Error",
        "RuntimeError: no such column",
    )
    assert "Traceback" in "".join(client.logs("flaky", step="boom"))
    assert "flaky failure 1 of 1" in "".join(client.logs("flaky", step="flaky", attempt=1))


def test_timeout_kills_a_slow_step(client: Client) -> None:
    client.create(
        run_body(
            "slow",
            [
                py("nap", "sleep", inputs=[{"name": "seconds", "value": 30}], timeoutSeconds=0.5),
            ],
        )
    )
    run = wait_finished(client, "slow", timeout=20)
    assert step_of(run, "nap")["reason"] == "DeadlineExceeded"


def test_second_run_is_cached(client: Client) -> None:
    steps = [py("add", "add", inputs=[{"name": "a", "value": 40}, {"name": "b", "value": 2}])]
    client.create(run_body("first", steps))
    wait_finished(client, "first")
    client.create(run_body("second", steps))
    run = wait_finished(client, "second")
    step = step_of(run, "add")
    assert (step["cached"], step["reason"], step["outputs"][0]["value"]) == (True, "Cached", 42)


def test_delete_cancels_running_steps(client: Client, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    client.create(
        run_body(
            "cancel",
            [
                py(
                    "nap",
                    "sleep",
                    inputs=[
                        {"name": "seconds", "value": 60},
                        {"name": "marker", "value": str(marker)},
                    ],
                ),
            ],
        )
    )
    pid = int(wait_for(lambda: marker.exists() and marker.read_text(), what="the step to start"))
    client.delete("pipelineruns", "cancel")
    wait_for(lambda: not process_alive(pid), timeout=15, what="the step process to end")

    def gone() -> bool:
        try:
            client.get("pipelineruns", "cancel")
        except NotFound:
            return True
        return False

    wait_for(gone, what="the run to be removed")


def test_more_than_the_machine_has_is_refused_and_nothing_is_stored(client: Client) -> None:
    cpus = len(os.sched_getaffinity(0))
    with pytest.raises(Invalid) as info:
        client.create(
            run_body("huge", [py("a", "noop"), py("b", "noop", resources={"cpu": str(cpus + 1)})])
        )
    (cause,) = info.value.causes
    assert cause.field == "spec.pipelineSpec.steps[1].resources"
    assert f"requests cpu {cpus + 1} but node" in cause.message
    with pytest.raises(NotFound):
        client.get("pipelineruns", "huge")


def test_gpus_from_a_fake_device_list_reach_the_step(tmp_path: Path) -> None:
    gpus = [GpuDevice(i, "nvidia", "NVIDIA H100 80GB HBM3", 80 << 30) for i in range(8)]
    plat = EmbeddedPlatform(tmp_path / "data", port=0, runtime=LocalRuntime(gpus=gpus))
    plat.start()
    try:
        with Client(plat.url, plat.admin_token(), ca_data=plat.ca_pem) as client:
            with pytest.raises(Invalid, match=r"requests 9 nvidia\.com/gpu but node"):
                client.create(run_body("nine", [py("a", "noop", resources={"nvidia.com/gpu": 9})]))
            client.create(
                run_body(
                    "two",
                    [
                        py(
                            "env",
                            "getenv",
                            inputs=[{"name": "name", "value": "CUDA_VISIBLE_DEVICES"}],
                            resources={"nvidia.com/gpu": 2, "gpuModel": "H100"},
                        ),
                        py(
                            "none",
                            "getenv",
                            inputs=[{"name": "name", "value": "CUDA_VISIBLE_DEVICES"}],
                        ),
                    ],
                )
            )
            run = wait_finished(client, "two")
            assert step_of(run, "env")["outputs"][0]["value"] == "0,1"
            assert step_of(run, "none")["outputs"][0]["value"] == ""
    finally:
        plat.stop()
