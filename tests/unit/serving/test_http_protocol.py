"""The HTTP/1.1 server's connection protocol, driven through a fake transport (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from mlkube.serving import http
from mlkube.serving.http import HttpServer, Request, Response


class FakeTransport:
    """Collects what the protocol writes; closing reports connection_lost like asyncio does."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.reading = True
        self.protocol: asyncio.Protocol | None = None

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def echo(req: Request) -> Response:
    if req.path == "/boom":
        raise RuntimeError("kaput")
    if req.path == "/empty":
        return Response(status=204)
    body = f"{req.method} {req.path} q={req.query} n={len(req.body)} x={req.headers.get('x-a')}"
    return Response(body=body.encode(), content_type="text/plain", headers=(("x-b", "2"),))


def exchange(
    *chunks: bytes, handler: Callable[[Request], Awaitable[Response]] = echo, limit: int = 100
) -> tuple[bytes, bool]:
    """Feed ``chunks`` to one connection; return everything written and whether it closed."""

    async def run() -> tuple[bytes, bool]:
        srv = HttpServer(handler, limit)
        proto = http._ServerProtocol(srv)
        transport = FakeTransport()
        transport.protocol = proto
        proto.connection_made(transport)  # type: ignore[arg-type]
        for chunk in chunks:
            proto.data_received(chunk)
            await asyncio.sleep(0)
        for _ in range(20):  # let queued handlers run to completion (no timers involved)
            await asyncio.sleep(0)
        return bytes(transport.data), transport.closed

    return asyncio.run(run())


def test_keep_alive_requests_are_answered_in_order_with_content_length() -> None:
    out, closed = exchange(
        b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 7\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    )
    first, second = out.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert first.endswith(b"\r\n\r\nGET /a q=x=1 n=0 x=7")
    assert b"content-length: 20\r\n" in first
    assert b"content-type: text/plain\r\nx-b: 2\r\n" in first
    assert second.endswith(b"POST /b q= n=5 x=None")
    assert not closed


def test_requests_split_across_reads_and_chunked_bodies() -> None:
    out, _ = exchange(
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Enc",
        b"oding: chunked\r\n\r\n3\r\nabc\r\n",
        b"2\r\nde\r\n0\r\n\r\n",
    )
    assert out.endswith(b"POST /c q= n=5 x=None")


def test_connection_close_and_http10_close_after_the_response() -> None:
    out, closed = exchange(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert b"connection: close\r\n" in out and closed
    out, closed = exchange(b"GET /a HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close\r\n" in out and closed


def test_http10_keep_alive_is_honoured() -> None:
    out, closed = exchange(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"connection: keep-alive\r\n" in out and not closed


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"40\r\n"
        + b"x" * 64
        + b"\r\n"
        + b"40\r\n"
        + b"x" * 64
        + b"\r\n0\r\n\r\n",
    ],
)
def test_too_large_bodies_get_413_and_the_connection_closes(request_bytes: bytes) -> None:
    out, closed = exchange(request_bytes, limit=100)
    assert out.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert out.endswith(b'{"error":"request body exceeds 100 bytes"}')
    assert closed


def test_parse_errors_get_400_and_close() -> None:
    out, closed = exchange(b"NOT HTTP AT ALL\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b'{"error":"malformed HTTP request' in out
    assert closed


def test_handler_exception_is_a_json_500_and_the_connection_survives() -> None:
    out, closed = exchange(
        b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b'{"error":"internal error: RuntimeError: kaput"}' in out
    assert out.endswith(b"GET /after q= n=0 x=None")
    assert not closed


def test_pipelined_requests_keep_order_when_the_first_is_slower() -> None:
    started: list[str] = []

    async def handler(req: Request) -> Response:
        started.append(req.path)
        if req.path == "/slow":
            for _ in range(5):  # yield to the loop: a concurrent design would answer /fast first
                await asyncio.sleep(0)
        return Response(body=req.path.encode())

    out, _ = exchange(
        b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /fast HTTP/1.1\r\nHost: h\r\n\r\n",
        handler=handler,
    )
    assert started == ["/slow", "/fast"]
    assert out.index(b"/slow") < out.index(b"/fast")


def test_head_and_204_carry_no_body() -> None:
    out, _ = exchange(b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n")
    assert out.endswith(b"content-length: 21\r\n\r\n")  # the GET body's length
    out, _ = exchange(b"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"content-length" not in out and out.endswith(b"\r\n\r\n")


def test_expect_100_continue_is_answered_before_the_body() -> None:
    out, _ = exchange(
        b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"ok"
    )
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


def test_json_and_error_responses_and_public_names() -> None:
    resp = http.json_response(201, {"a": [1]})
    assert (resp.status, resp.body, resp.content_type) == (201, b'{"a":[1]}', "application/json")
    error = http.error_response(404, "boom")  # the protocol's error object
    assert (error.status, error.content_type) == (404, "application/json")
    assert orjson.loads(error.body) == {"error": "boom"}
    for name in http.__all__:
        assert hasattr(http, name)


def test_an_unencodable_response_becomes_a_500_on_a_live_connection() -> None:
    async def handler(req: Request) -> Response:
        if req.path == "/bad":
            return Response(headers=(("x-name", "\u2603"),))
        return Response(body=b"fine")

    out, closed = exchange(
        b"GET /bad HTTP/1.1\r\nHost: h\r\n\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n", handler=handler
    )
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert out.endswith(b"fine") and not closed


def test_the_ready_file_is_written_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "ready.json"  # the folder is created
    http.write_ready_file(path, {"port": 1, "pid": 2})
    http.write_ready_file(path, {"port": 3, "pid": 4})  # replaced, never half-written
    assert orjson.loads(path.read_bytes()) == {"port": 3, "pid": 4}
    assert [p.name for p in path.parent.iterdir()] == ["ready.json"]
