"""The activator holds requests for a service without replicas; shutdown drains in-flight work."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.serving.conftest import (
    RouterProcess,
    Upstreams,
    eventually,
    service,
    start_router,
)


def fire(
    router: RouterProcess, n: int, path: str = "/serving/team-a/iris/x"
) -> Future[list[httpx.Response]]:
    """Send ``n`` concurrent requests from a background thread."""

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=router.url, timeout=60) as client:
            return list(await asyncio.gather(*(client.get(path) for _ in range(n))))

    pool = ThreadPoolExecutor(1)
    future = pool.submit(asyncio.run, run())
    pool.shutdown(wait=False)
    return future


def test_held_requests_are_released_by_a_route_update(
    router: RouterProcess, upstreams: Upstreams
) -> None:
    router.put_routes(service(("r1", 100, [])))
    pending = fire(router, 20)
    eventually(lambda: router.stats()["held"] == 20, what="20 held requests")
    assert router.stats()["in_flight"] == 0

    router.put_routes(service(("r1", 100, [("a", upstreams.start("a"))])))
    responses = pending.result(30)
    assert [r.status_code for r in responses] == [200] * 20
    assert upstreams.hits["a"] == 20
    stats = router.stats()
    assert (stats["held"], stats["in_flight"], stats["requests_total"]) == (0, 0, 20)


def test_concurrency_counts_held_requests(router: RouterProcess, upstreams: Upstreams) -> None:
    router.put_routes(service(("r1", 100, [])))
    router.stats()  # start a fresh window
    pending = fire(router, 3)
    eventually(lambda: router.stats()["held"] == 3, what="3 held requests")
    time.sleep(0.2)  # let the window see a steady level of 3
    assert 2.5 <= router.stats()["concurrency"] <= 3.0
    router.put_routes(service(("r1", 100, [("a", upstreams.start("a"))])))
    assert [r.status_code for r in pending.result(30)] == [200] * 3


def test_activation_timeout_is_503(router: RouterProcess) -> None:
    router.put_routes(service(("r1", 100, []), activation_timeout_s=0.3))
    started = time.monotonic()
    r = router.client.get("/serving/team-a/iris/x")
    assert r.status_code == 503
    assert r.json() == {"error": "no replica of team-a/iris became ready within 0.3s"}
    assert 0.25 <= time.monotonic() - started < 5
    assert router.stats()["held"] == 0


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path, upstreams: Upstreams) -> None:
    router = start_router(tmp_path)
    try:
        router.put_routes(
            service(("r1", 100, [("a", upstreams.start("a"))])),
            service(("r1", 100, []), name="cold"),
        )
        slow = fire(router, 1, "/serving/team-a/iris/x?delay=0.5")
        held = fire(router, 1, "/serving/team-a/cold/x")
        eventually(lambda: router.stats()["in_flight"] == 1, what="the slow request in flight")
        eventually(lambda: router.stats(name="cold")["held"] == 1, what="a held request")
    finally:
        status = router.stop()
    assert status == 0, router.log.read_text()
    assert slow.result(10)[0].status_code == 200
    held_response = held.result(10)[0]
    assert held_response.status_code == 503
    assert "shutting down" in held_response.json()["error"]
