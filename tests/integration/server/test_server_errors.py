"""Every refusal is a Kubernetes `Status` with the right code, naming the field and reason;
a refused write stores nothing."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from tests.integration.server.serverkit import Api, pipeline, run, running_api, step

from mlkube.api.errors import AlreadyExists, Invalid, NotFound, Unauthorized
from mlkube.sdk.client import ApiUnreachable, Client

GV = "/apis/mlkube.io/v1alpha1"
RUNS = f"{GV}/namespaces/team/pipelineruns"


def assert_status(response: Any, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert (body["status"], body["code"], body["reason"]) == ("Failure", code, reason)
    return body


def test_requests_need_a_known_bearer_token(api: Api) -> None:
    for token in (None, "wrong"):
        with api.http(token) as http:
            assert_status(http.get("/api/v1/namespaces"), 401, "Unauthorized")
            assert_status(http.get("/apis"), 401, "Unauthorized")
    with api.http(None) as http:
        assert http.get("/healthz").text == "ok"
        assert http.get("/readyz").text == "ok"
    with Client(api.url, "wrong") as client, pytest.raises(Unauthorized):
        client.list("namespaces")


def test_unknown_routes_and_methods(api: Api) -> None:
    with api.http() as http:
        body = assert_status(http.get(f"{GV}/widgets"), 404, "NotFound")
        assert body["message"] == "the server could not find the requested resource"
        assert_status(http.get("/no/such/path"), 404, "NotFound")
        assert_status(http.get("/apis/other.io"), 404, "NotFound")
        assert_status(http.post(f"{GV}/pipelineruns", json={}), 405, "MethodNotAllowed")
        assert_status(http.put(RUNS, json={}), 405, "MethodNotAllowed")
        assert_status(http.delete("/api/v1/namespaces"), 405, "MethodNotAllowed")
        assert_status(http.request("OPTIONS", RUNS), 405, "MethodNotAllowed")


def test_not_found_and_already_exists(api: Api) -> None:
    with api.http() as http:
        body = assert_status(http.get(f"{RUNS}/nope"), 404, "NotFound")
        assert body["details"] == {"name": "nope", "group": "mlkube.io", "kind": "pipelineruns"}
    api.client.create(run("r"))
    with pytest.raises(AlreadyExists, match=r'pipelineruns\.mlkube\.io "r" already exists'):
        api.client.create(run("r"))


def with_unknown_field() -> dict[str, Any]:
    body = run("r")
    body["spec"]["colour"] = "blue"
    return body


INVALID = {
    "unknown field": (with_unknown_field(), "spec.colour", "unknown field"),
    "bad quantity": (
        run("r", step("a", resources={"cpu": "2Gx"})),
        "spec.pipelineSpec.steps[0].resources.cpu",
        "2Gx",
    ),
    "cycle": (
        run("r", step("a", after=("b",)), step("b", after=("a",))),
        "spec.pipelineSpec.steps",
        "cycle",
    ),
    "missing upstream": (
        run("r", step("a", after=("ghost",))),
        "spec.pipelineSpec.steps[0].dependsOn[0]",
        "no step named 'ghost'",
    ),
    "admission": (
        run("r", step("a", resources={"nvidia.com/gpu": 1})),
        "spec.pipelineSpec.steps[0].resources",
        "no node here has a GPU",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_objects_name_the_field_and_store_nothing(api: Api, case: str) -> None:
    body, field, words = INVALID[case]
    with api.http() as http:
        status = assert_status(http.post(RUNS, json=body), 422, "Invalid")
    causes = status["details"]["causes"]
    assert any(c["field"] == field and words in c["message"] for c in causes), causes
    assert status["details"]["kind"] == "PipelineRun" and status["details"]["name"] == "r"
    with pytest.raises(Invalid) as caught:
        api.client.create(body)
    assert field in [c.field for c in caught.value.causes]
    assert api.client.list("pr", "team") == []
    assert api.store.list("pipelineruns.mlkube.io")[0] == []


def test_pipelines_are_validated_too(api: Api) -> None:
    with pytest.raises(Invalid) as caught:
        api.client.create(pipeline("p", step("a", after=("a",))))
    assert caught.value.causes[0].field == "spec.steps"


def test_malformed_requests_are_bad_requests(api: Api) -> None:
    with api.http() as http:
        assert_status(http.post(RUNS, content=b"{not json"), 400, "BadRequest")
        assert_status(http.post(RUNS, json=["a list"]), 400, "BadRequest")
        mismatch = assert_status(
            http.post(RUNS, json=run("r", namespace="other")), 400, "BadRequest"
        )
        assert mismatch["message"] == (
            "the namespace of the provided object does not match the namespace sent on the request"
        )
        assert_status(http.get(RUNS, params={"watch": "maybe"}), 400, "BadRequest")
        assert_status(http.get(RUNS, params={"fieldSelector": "spec.x=1"}), 400, "BadRequest")


def test_oversized_bodies_are_refused(api: Api) -> None:
    body = run("r")
    body["metadata"]["annotations"] = {"big": "x" * (4 * 1024 * 1024)}
    with api.http() as http:
        assert_status(http.post(RUNS, json=body), 413, "RequestEntityTooLarge")


def failing_log_source(namespace: str, run: str, step: str, attempt: int | None) -> Path | None:
    raise RuntimeError("disk layout secret /srv/private")


def test_unexpected_errors_are_a_generic_500_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_api(tmp_path, log_source=failing_log_source) as api, api.http() as http:
        api.client.create(run("r"))
        with caplog.at_level(logging.ERROR, logger="mlkube.server"):
            response = http.get(f"{RUNS}/r/log", params={"step": "only"})
    body = assert_status(response, 500, "InternalError")
    assert "secret" not in response.text and "server log" in body["message"]
    assert "disk layout secret" in caplog.text, "the traceback goes to the server log"


def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", "t") as client, pytest.raises(ApiUnreachable) as caught:
        client.get("namespaces", "default")
    assert (
        f'cannot reach the mlkube API at http://127.0.0.1:{port}: is "mlkube up" running?'
        in str(caught.value)
    )


def test_server_errors_come_back_as_their_classes(api: Api) -> None:
    with pytest.raises(NotFound) as caught:
        api.client.get("pr", "nope", namespace="team")
    assert (caught.value.code, caught.value.name, caught.value.kind) == (
        404,
        "nope",
        "pipelineruns",
    )
