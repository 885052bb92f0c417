"""The HTTP core on real loopback sockets: server behaviour and the upstream pool's failure modes.

(Named for the router because the router is its main client; the protocol details are covered
without sockets in tests/unit/serving/test_http_protocol.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest

from mlkube.serving.http import (
    HttpServer,
    Request,
    Response,
    UpstreamError,
    UpstreamPool,
    start_server,
)

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))


async def echo(req: Request) -> Response:
    if req.query.startswith("delay="):
        await asyncio.sleep(float(req.query[6:]))
    return Response(body=req.body or req.path.encode(), content_type="text/plain")


async def raw_server(handler: RawHandler) -> tuple[asyncio.Server, int]:
    """A hand-written HTTP peer; ``handler`` gets the connection's ordinal (0, 1, ...)."""
    accepted = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            await handler(reader, writer, accepted - 1)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


@contextlib.asynccontextmanager
async def pool_to(handler: RawHandler) -> AsyncIterator[UpstreamPool]:
    """A pool to a hand-written peer; both are closed on exit."""
    server, port = await raw_server(handler)
    pool = UpstreamPool("127.0.0.1", port)
    try:
        yield pool
    finally:
        await pool.close()
        await close_server(server)


def test_pool_round_trips_and_reuses_connections() -> None:
    async def main() -> None:
        srv = await start_server(echo)
        pool = UpstreamPool("127.0.0.1", srv.port)
        resp = await pool.request("POST", "/x?y=1", [("x-a", "1"), ("Connection", "x")], b"hi")
        assert (resp.status, resp.body) == (200, b"hi")
        assert ("content-type", "text/plain") in resp.headers
        big = bytes(range(256)) * 4096  # 1 MiB: written in two parts, read in many
        assert (await pool.request("PUT", "/", [], big)).body == big
        results = await asyncio.gather(*(pool.request("GET", f"/{i}", [], b"") for i in range(50)))
        assert [r.body for r in results] == [f"/{i}".encode() for i in range(50)]
        assert len(srv._conns) <= 50  # one connection per concurrent request, then reused
        await pool.close()
        await srv.close()

    run(main())


def test_stale_keep_alive_is_retried_once_on_a_fresh_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)  # keep-alive implied ...
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # ... but the 2nd request is dropped unanswered

    async def main() -> None:
        async with pool_to(handler) as pool:
            for _ in range(3):
                assert (await pool.request("GET", "/", [], b"")).body == b"ok"

    run(main())


def test_interim_100_continue_responses_are_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"expect" not in head.lower()  # the pool sends whole bodies, never an Expect
        await reader.readexactly(3)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
        await writer.drain()

    async def main() -> None:
        async with pool_to(handler) as pool:
            resp = await pool.request("POST", "/", [("Expect", "100-continue")], b"abc")
            assert (resp.status, resp.body) == (200, b"ok")

    run(main())


def test_a_fresh_connection_closed_before_responding_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async def main() -> None:
        async with pool_to(handler) as pool:
            with pytest.raises(UpstreamError, match="closed the connection before") as info:
                await pool.request("GET", "/", [], b"")
        assert info.value.before_response

    run(main())


def test_refused_mid_response_and_timeout_errors() -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()

    async def main() -> None:
        srv = await start_server(echo)
        port = srv.port
        await srv.close()
        with pytest.raises(UpstreamError, match="connect failed") as info:
            await UpstreamPool("127.0.0.1", port).request("GET", "/", [], b"")
        assert info.value.before_response

        async with pool_to(half) as pool:
            with pytest.raises(UpstreamError, match="closed mid-response") as info:
                await pool.request("GET", "/", [], b"")
        assert not info.value.before_response

        srv = await start_server(echo)
        pool = UpstreamPool("127.0.0.1", srv.port, timeout=0.1)
        with pytest.raises(UpstreamError, match=r"no complete response within 0\.1s") as info:
            await pool.request("GET", "/?delay=1", [], b"")
        assert info.value.before_response
        assert (await pool.request("GET", "/", [], b"")).status == 200  # the pool recovers
        await pool.close()
        await srv.close(timeout=0.1)

    run(main())


def test_server_speaks_to_a_standard_client() -> None:
    async def main() -> None:
        srv = await start_server(echo, max_body_bytes=1000)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as client:

            async def chunks() -> Any:
                yield b"ab"
                yield b"cd"

            assert (await client.post("/", content=chunks())).content == b"abcd"
            r = await client.post("/", content=b"x" * 1001)
            assert r.status_code == 413
            assert (await client.get("/after")).content == b"/after"
        await srv.close()

    run(main())


def test_close_waits_for_in_flight_requests() -> None:
    async def main() -> None:
        srv: HttpServer = await start_server(echo)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as client:
            slow = asyncio.create_task(client.get("/slow", params={"delay": "0.3"}))
            await asyncio.sleep(0.1)  # let the request reach the handler
            await srv.close(timeout=5)
            r = await slow
            assert (r.status_code, r.content, r.headers["connection"]) == (200, b"/slow", "close")
            with pytest.raises(httpx.ConnectError):
                await client.get("/")

    run(main())
