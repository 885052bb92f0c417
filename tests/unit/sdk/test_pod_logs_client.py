"""The SDK's log fallback against a kube-apiserver's answers, served by an httpx transport:
which requests it makes, and what a user lacking the rights to read pods is told."""

from __future__ import annotations

import json

import httpx
import pytest

from mlkube.api.errors import Forbidden
from mlkube.sdk.client import Client

UNSERVED = {
    "kind": "Status",
    "status": "Failure",
    "reason": "NotFound",
    "code": 404,
    "message": "the server could not find the requested resource",
}
POD_NAME = "team-a-hello-1234abcd-hi-1"
POD = {
    "metadata": {
        "name": POD_NAME,
        "labels": {
            "mlkube.io/pipelinerun": "hello",
            "mlkube.io/step": "hi",
            "mlkube.io/attempt": "1",
        },
        "ownerReferences": [{"kind": "PipelineRun", "name": "hello", "uid": "u"}],
    },
    "spec": {"containers": [{"name": "workload"}]},
}


def forbidden(what: str) -> httpx.Response:
    status = {**UNSERVED, "reason": "Forbidden", "code": 403, "message": what}
    return httpx.Response(403, json=status)


class FakeApiServer:
    """Serves no log subresource for our kinds, one pod, and refuses what `refuse` names."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append(f"{path}?{request.url.query.decode()}")
        if path.endswith("/pipelineruns/hello/log"):
            return httpx.Response(404, json=UNSERVED)
        if self.refuse and path.endswith(self.refuse):
            return forbidden(f'cannot get resource "{self.refuse}"')
        if path == "/api/v1/namespaces/team-a/pods":
            return httpx.Response(200, json={"items": [POD], "metadata": {}})
        if path == f"/api/v1/namespaces/team-a/pods/{POD_NAME}/log":
            return httpx.Response(200, text="line 1\nline 2\n")
        return httpx.Response(404, json={**UNSERVED, "message": json.dumps(path)})


def client_of(server: FakeApiServer) -> Client:
    return Client("https://kube.example", namespace="team-a", transport=httpx.MockTransport(server))


def test_the_log_is_streamed_from_the_selected_pod_with_follow_and_tail() -> None:
    server = FakeApiServer()
    with client_of(server) as api:
        text = "".join(api.logs("hello", step="hi", follow=True, tail_lines=2))
    assert text == "line 1\nline 2\n"
    assert server.requests[1:] == [
        "/api/v1/namespaces/team-a/pods?labelSelector=mlkube.io%2Fpipelinerun%3Dhello%2Cmlkube.io%2Fstep%3Dhi",
        f"/api/v1/namespaces/team-a/pods/{POD_NAME}/log?follow=true&tailLines=2",
    ]


@pytest.mark.parametrize("refused", ["pods", "/log"])
def test_a_user_who_may_not_read_pods_is_told_what_is_needed(refused: str) -> None:
    with client_of(FakeApiServer(refuse=refused)) as api, pytest.raises(Forbidden) as err:
        "".join(api.logs("hello", step="hi"))
    assert str(err.value) == (
        "reading logs needs get and list on pods and get on pods/log in namespace 'team-a' "
        f'(Kubernetes\' view role grants them): cannot get resource "{refused}"'
    )
