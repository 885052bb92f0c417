"""The router process forwards to replicas by path prefix or Host, balances, and fails over."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import tritonclient.http as triton

from tests.integration.serving.conftest import RouterProcess, Upstreams, service


def test_forwards_by_path_prefix_stripping_it(router: RouterProcess, upstreams: Upstreams) -> None:
    port = upstreams.start("a")
    assert router.put_routes(service(("iris-1", 100, [("iris-1-a", port)]))).status_code == 200

    r = router.client.get("/serving/team-a/iris/v2/models/iris?verbose=1")
    assert r.status_code == 200
    assert r.json() == {
        "upstream": "a",
        "path": "/v2/models/iris",
        "query": "verbose=1",
        "host": f"127.0.0.1:{router.port}",
        "body_bytes": 0,
    }
    assert r.headers["x-mlkube-revision"] == "iris-1"
    assert r.headers["x-mlkube-replica"] == "iris-1-a"
    assert r.headers["x-upstream"] == "a"  # upstream headers come back
    assert router.client.get("/serving/team-a/iris").json()["path"] == "/"


def test_body_bytes_pass_through_untouched(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(service(("r1", 100, [("a", upstreams.start("a"))])))
    body = bytes(range(256)) * 1000  # binary, larger than one socket read
    r = router.client.post("/serving/team-a/iris/echo", content=body)
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["content-type"] == "application/octet-stream"


def test_forwards_by_host_keeping_the_path(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(service(("r1", 100, [("a", upstreams.start("a"))])))
    r = router.client.get("/v2/health/ready", headers={"host": "iris.team-a.example.com"})
    assert r.status_code == 200
    assert r.json()["path"] == "/v2/health/ready"
    assert r.json()["host"] == "iris.team-a.example.com"


def test_unknown_service_is_404_and_own_endpoints_answer(router: RouterProcess) -> None:
    r = router.client.get("/serving/team-a/nope/v2")
    assert (r.status_code, r.json()) == (404, {"error": "no InferenceService team-a/nope"})
    r = router.client.get("/v2", headers={"host": "nope.team-b.example.com"})
    assert (r.status_code, r.json()) == (404, {"error": "no InferenceService team-b/nope"})
    assert router.client.get("/somewhere").status_code == 404
    assert router.client.get("/healthz").json() == {"status": "ok"}


def test_least_outstanding_sends_little_to_a_slow_replica(
    router: RouterProcess, upstreams: Upstreams
) -> None:
    slow, fast = upstreams.start("slow", delay=0.3), upstreams.start("fast")
    router.put_routes(service(("r1", 100, [("slow", slow), ("fast", fast)])))

    async def worker(client: httpx.AsyncClient, until: float) -> list[str]:
        replicas = []
        while time.monotonic() < until:
            r = await client.get("/serving/team-a/iris/x")
            replicas.append(r.headers["x-mlkube-replica"])
        return replicas

    async def run() -> Counter[str]:
        until = time.monotonic() + 1.2
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
            results = await asyncio.gather(*(worker(client, until) for _ in range(4)))
        return Counter(r for rs in results for r in rs)

    counts = asyncio.run(run())
    # Round-robin would alternate every worker between the two: half the requests, each 0.3 s.
    assert counts["fast"] >= 100, counts
    assert counts["slow"] <= 0.1 * counts.total(), counts


def test_traffic_split_80_20(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(
        service(
            ("iris-2", 80, [("b", upstreams.start("b"))]),
            ("iris-1", 20, [("a", upstreams.start("a"))]),
        )
    )
    counts = Counter(
        router.client.get("/serving/team-a/iris/x").headers["x-mlkube-revision"] for _ in range(500)
    )
    assert 370 <= counts["iris-2"] <= 430, counts
    assert counts["iris-2"] + counts["iris-1"] == 500


def test_a_dead_replica_is_skipped(router: RouterProcess, upstreams: Upstreams) -> None:
    a, b = upstreams.start("a"), upstreams.start("b")
    router.put_routes(service(("r1", 100, [("a", a), ("b", b)])))
    for _ in range(10):  # warm keep-alive connections to both
        assert router.client.get("/serving/team-a/iris/x").status_code == 200
    upstreams.stop("a")
    replicas: Counter[str] = Counter()
    for _ in range(30):
        r = router.client.get("/serving/team-a/iris/x")
        assert r.status_code == 200, r.text
        replicas[r.headers["x-mlkube-replica"]] += 1
    assert replicas == {"b": 30}


def test_never_started_replica_and_all_dead(router: RouterProcess, upstreams: Upstreams) -> None:
    dead = upstreams.start("dead")
    upstreams.stop("dead")  # its port now refuses connections
    router.put_routes(service(("r1", 100, [("dead", dead), ("b", upstreams.start("b"))])))
    for _ in range(5):
        assert router.client.get("/serving/team-a/iris/x").status_code == 200
    router.put_routes(service(("r1", 100, [("dead", dead)])))
    r = router.client.get("/serving/team-a/iris/x")
    assert r.status_code == 503
    assert r.json()["error"].startswith("replica dead of team-a/iris is unreachable")
    assert router.client.get("/healthz").status_code == 200  # the router stays up


def test_failure_mid_response_is_502(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(service(("r1", 100, [("broken", upstreams.start_broken())])))
    r = router.client.get("/serving/team-a/iris/x")
    assert r.status_code == 502
    assert r.json()["error"].startswith("replica broken of team-a/iris failed")


def test_tritonclient_reaches_a_service_through_the_path_prefix(
    router: RouterProcess, upstreams: Upstreams
) -> None:
    router.put_routes(service(("r1", 100, [("a", upstreams.start("a"))])))
    client = triton.InferenceServerClient(url=f"127.0.0.1:{router.port}/serving/team-a/iris")
    try:
        assert client.is_server_live()  # GET /serving/team-a/iris/v2/health/live -> 200
    finally:
        client.close()
    assert upstreams.hits["a"] == 1
