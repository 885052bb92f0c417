"""Discovery over HTTP: what kubectl and the kubernetes client read before anything else."""

from __future__ import annotations

from tests.integration.server.serverkit import Api


def test_discovery_documents(api: Api) -> None:
    with api.http() as http:
        versions = http.get("/api").json()
        core = http.get("/api/v1").json()
        groups = http.get("/apis").json()
        group = http.get("/apis/mlkube.io").json()
        resources = http.get("/apis/mlkube.io/v1alpha1").json()
        version = http.get("/version").json()
    assert versions["kind"] == "APIVersions" and versions["versions"] == ["v1"]
    assert versions["serverAddressByClientCIDRs"][0]["serverAddress"] == api.url.removeprefix(
        "http://"
    )
    assert core["kind"] == "APIResourceList"
    assert (
        core["resources"][0]["name"] == "namespaces" and core["resources"][0]["namespaced"] is False
    )
    assert groups["kind"] == "APIGroupList" and groups["groups"][0]["name"] == "mlkube.io"
    assert group["kind"] == "APIGroup" and group["preferredVersion"]["version"] == "v1alpha1"
    names = {r["name"]: r for r in resources["resources"]}
    assert names["pipelineruns"]["kind"] == "PipelineRun"
    assert names["pipelineruns/status"]["verbs"] == ["get", "patch", "update"]
    assert names["pipelines"]["shortNames"] == ["pl"]
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")


def test_unknown_groups_and_versions_are_404_status(api: Api) -> None:
    with api.http() as http:
        for path in ("/apis/batch", "/apis/mlkube.io/v9", "/api/v2"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.json()["kind"] == "Status"
