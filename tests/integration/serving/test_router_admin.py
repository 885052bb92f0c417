"""The router's admin API (token, route table, stats) and its Prometheus metrics."""

from __future__ import annotations

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.serving.conftest import RouterProcess, Upstreams, service


def test_admin_requires_the_bearer_token(router: RouterProcess) -> None:
    for headers in ({"authorization": ""}, {"authorization": "Bearer wrong"}):
        for method, path in (("GET", "/routes"), ("PUT", "/routes"), ("GET", "/stats")):
            r = router.admin.request(method, path, headers=headers, content=b"{}")
            assert r.status_code == 401, (method, path)
            assert r.json() == {"error": "missing or wrong bearer token"}


def test_route_table_round_trips(router: RouterProcess, upstreams: Upstreams) -> None:
    assert router.admin.get("/routes").json() == {"services": []}
    svc = service(("r2", 80, [("a", 1234)]), ("r1", 20, []), activation_timeout_s=5)
    stored = router.put_routes(svc).json()
    assert stored == router.admin.get("/routes").json()
    assert stored["services"][0]["activation_timeout_s"] == 5.0
    assert stored["services"][0]["revisions"][0]["endpoints"] == [
        {"id": "a", "host": "127.0.0.1", "port": 1234}
    ]


def test_bad_table_is_400_and_the_previous_table_keeps_serving(
    router: RouterProcess, upstreams: Upstreams
) -> None:
    good = service(("r1", 100, [("a", upstreams.start("a"))]))
    router.put_routes(good)
    before = router.admin.get("/routes").json()

    r = router.put_routes(service(("r1", 60, []), ("r2", 30, [])))
    assert r.status_code == 400
    assert r.json() == {
        "error": "services[0].revisions: percents of team-a/iris must sum to 100, got 90"
    }
    r = router.admin.put("/routes", content=b"{not json")
    assert r.status_code == 400
    assert r.json()["error"].startswith("route table is not valid JSON")

    assert router.admin.get("/routes").json() == before
    assert router.client.get("/serving/team-a/iris/x").status_code == 200


def test_stats_shape(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(service(("r2", 100, [("b", upstreams.start("b"))]), ("r1", 0, [])))
    router.admin.get("/stats")
    for _ in range(2):
        router.client.get("/serving/team-a/iris/x", headers={"connection": "close"})
    doc = orjson.loads(router.admin.get("/stats").content)
    assert isinstance(doc["at"], float)
    (svc,) = doc["services"]
    assert set(svc) == {
        "namespace", "name", "in_flight", "held", "requests_total", "concurrency", "rps",
        "window_s", "revisions",
    }  # fmt: skip
    assert (svc["in_flight"], svc["held"], svc["requests_total"]) == (0, 0, 2)
    assert svc["revisions"] == [
        {"name": "r2", "requests_total": 2, "endpoints": 1},
        {"name": "r1", "requests_total": 0, "endpoints": 0},
    ]


def test_metrics_parse_and_match_the_traffic(router: RouterProcess, upstreams: Upstreams) -> None:
    a, b = upstreams.start("a"), upstreams.start("b")
    router.put_routes(service(("r2", 80, [("a", a), ("b", b)]), ("r1", 20, [("c", b)])))
    for _ in range(50):
        assert router.client.get("/serving/team-a/iris/x").status_code == 200
    router.client.get("/serving/team-a/nope/x")  # unknown services are not counted

    text = router.client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        (s.labels["revision"], s.labels["code"]): s.value
        for s in families["mlkube_router_requests"].samples
        if s.name == "mlkube_router_requests_total"
    }
    assert requests == {("r2", "200"): 40.0, ("r1", "200"): 10.0}
    counts = [
        s.value
        for s in families["mlkube_router_request_duration_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert counts == [50.0]
    endpoints = {s.labels["revision"]: s.value for s in families["mlkube_router_endpoints"].samples}
    assert endpoints == {"r2": 2.0, "r1": 1.0}
    (in_flight,) = families["mlkube_router_in_flight"].samples
    assert in_flight.labels == {"namespace": "team-a", "service": "iris"}
    assert in_flight.value == 0.0
    assert families["mlkube_router_held_requests"].samples[0].value == 0.0
