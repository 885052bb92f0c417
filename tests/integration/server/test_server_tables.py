"""`Table` responses over HTTP: get, list and watch, as `kubectl get [-w]` asks for them."""

from __future__ import annotations

import json

from tests.integration.server.serverkit import Api, run

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
RUNS = "/apis/mlkube.io/v1alpha1/namespaces/team/pipelineruns"


def test_get_and_list_answer_with_a_table_when_asked(api: Api) -> None:
    api.client.create(run("r1"))
    with api.http() as http:
        one = http.get(f"{RUNS}/r1", headers={"Accept": TABLE}).json()
        listed = http.get(RUNS, headers={"Accept": TABLE}).json()
        plain = http.get(RUNS).json()
        bad = http.get(RUNS, params={"includeObject": "All"}, headers={"Accept": TABLE})
    assert one["kind"] == "Table" and [r["cells"][0] for r in one["rows"]] == ["r1"]
    assert listed["kind"] == "Table"
    assert [c["name"] for c in listed["columnDefinitions"]][:2] == ["Name", "Phase"]
    assert listed["rows"][0]["object"]["metadata"]["name"] == "r1"
    assert listed["metadata"]["resourceVersion"] == plain["metadata"]["resourceVersion"]
    assert plain["kind"] == "PipelineRunList"  # a client that does not ask gets objects
    assert bad.status_code == 400 and "includeObject" in bad.json()["message"]


def test_a_watch_sends_one_row_tables_with_headers_once(api: Api) -> None:
    api.client.create(run("r1"))
    api.client.create(run("r2"))
    params = {"watch": "true", "timeoutSeconds": "1", "includeObject": "Object"}
    with api.http() as http:
        answer = http.get(RUNS, params=params, headers={"Accept": TABLE})
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "ADDED"]
    first, second = (e["object"] for e in events)
    assert first["kind"] == second["kind"] == "Table"
    assert first["columnDefinitions"] and not second["columnDefinitions"]
    assert [t["rows"][0]["object"]["metadata"]["name"] for t in (first, second)] == ["r1", "r2"]
