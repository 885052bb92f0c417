"""A minimal, fast HTTP/1.1 server on asyncio + httptools, and a keep-alive upstream client.

The serving data plane (model-server replicas, the router) speaks plain HTTP/1.1 on loopback or
inside a pod network, so it needs none of a web framework: one parser callback per event, one
``transport.write`` per response, no middleware, no per-request object graph.

Server contract:

* Requests on one connection are handled strictly in order (pipelined requests are queued and
  answered one after another); keep-alive by default for HTTP/1.1, on request for HTTP/1.0.
* Bodies arrive whole in :attr:`Request.body`, whether sent with Content-Length or chunked.
  A body above ``max_body_bytes`` gets 413 and the connection closes; a parse error gets 400
  and the connection closes.
* A handler exception becomes 500 with a JSON ``{"error": ...}`` body; the connection survives.
* Every response carries Content-Length (never chunked), except 1xx/204/304 which carry no body.

The client half (:class:`UpstreamPool`) lives in :mod:`mlkube.serving.upstream` and is
re-exported here. This module also holds what both serving processes (the router, a
model-server replica) need around their servers: JSON and error responses, uvloop, the stop
signals and the ready file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import cast

import httptools
import orjson

from mlkube.serving.upstream import UpstreamError, UpstreamPool, UpstreamResponse

__all__ = [
    "Handler",
    "HttpServer",
    "Request",
    "Response",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamResponse",
    "error_response",
    "install_uvloop",
    "json_response",
    "start_server",
    "stop_event",
    "write_ready_file",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    """One parsed request. ``headers`` has lower-case names; repeated headers are joined by ", "."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Response:
    """What a handler returns. ``content_type=""`` sends no Content-Type header."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: object) -> Response:
    """A JSON response serialized with orjson."""
    return Response(status=status, body=orjson.dumps(payload))


def error_response(status: int, message: str) -> Response:
    """The serving processes' error answer: ``{"error": message}`` (the OIP error object)."""
    return json_response(status, {"error": message})


def install_uvloop() -> bool:
    """Make uvloop the event loop policy when it is importable; return whether it was set."""
    try:
        import uvloop
    except ImportError:  # optional speed-up: the stdlib loop works, only slower
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def stop_event() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets; the handlers go on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def write_ready_file(path: Path, payload: dict[str, int]) -> None:
    """Write ``payload`` as JSON to ``path`` atomically (temp file in the same dir + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(payload))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_STATUS_LINES: dict[int, bytes] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("ascii") for s in HTTPStatus
}
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_PIPELINE = 32  # queued requests per connection before we stop reading from it


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


def _encode_response(resp: Response, *, keep_alive: bool, http10: bool, head: bool) -> bytes:
    parts = [_status_line(resp.status)]
    if resp.content_type:
        parts.append(b"content-type: %s\r\n" % resp.content_type.encode("latin-1"))
    for name, value in resp.headers:
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    body = resp.body
    if resp.status in _NO_BODY_STATUSES or resp.status < 200:
        body = b""
    else:
        parts.append(b"content-length: %d\r\n" % len(body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    elif http10:
        parts.append(b"connection: keep-alive\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(body)
    return b"".join(parts)


class HttpServer:
    """A listening server. ``port`` is the bound port (useful with ``port=0``)."""

    def __init__(self, handler: Handler, max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.port = 0
        self.host = ""
        self.closing = False
        self._server: asyncio.Server | None = None
        self._conns: set[_ServerProtocol] = set()
        self._all_closed: asyncio.Event | None = None

    async def close(self, *, timeout: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (at most ``timeout`` s), then close all.

        Idle keep-alive connections close at once; busy ones close after their current response
        (which carries ``Connection: close``); whatever is still open at the deadline is aborted.
        """
        self.closing = True
        if self._server is not None:
            self._server.close()
        self._all_closed = asyncio.Event()
        for conn in list(self._conns):
            conn.close_when_idle()
        if self._conns:
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except TimeoutError:
                for conn in list(self._conns):
                    conn.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def _forget(self, conn: _ServerProtocol) -> None:
        self._conns.discard(conn)
        if not self._conns and self._all_closed is not None:
            self._all_closed.set()


async def start_server(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_body_bytes: int = 64 * 2**20,
) -> HttpServer:
    """Listen on ``host:port`` and serve every request with ``handler``; returns once bound."""
    srv = HttpServer(handler, max_body_bytes)
    loop = asyncio.get_running_loop()
    srv._server = await loop.create_server(
        lambda: _ServerProtocol(srv), host, port, reuse_address=True, backlog=2048
    )
    sockname = srv._server.sockets[0].getsockname()
    srv.host, srv.port = sockname[0], sockname[1]
    return srv


# A queued item: a parsed request to handle, or a ready error response to send before closing.
_Item = tuple[Request | Response, bool, bool]  # (item, keep_alive, http10)


class _ServerProtocol(asyncio.Protocol):
    """One client connection: parse with httptools, queue requests, answer them in order."""

    def __init__(self, srv: HttpServer) -> None:
        self._srv = srv
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._too_large = False
        self._dead = False  # stop parsing: an error response is queued and we will close
        self._queue: deque[_Item] = deque()
        self._busy = False
        self._read_paused = False
        self._write_paused: asyncio.Future[None] | None = None
        self._close_when_idle = False

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._srv._conns.add(self)
        if self._srv.closing:
            self.close_when_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        self._srv._forget(self)

    def data_received(self, data: bytes) -> None:
        if self._dead:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._dead = True  # no protocol upgrades: answer what was parsed, then close
            self._close_when_idle = True
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    def pause_writing(self) -> None:
        self._write_paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        self._write_paused = None

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = val if old is None else f"{old}, {val}"

    def on_headers_complete(self) -> None:
        declared = self._headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._srv.max_body_bytes:
            self._fail(413, f"request body exceeds {self._srv.max_body_bytes} bytes")
            return
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._srv.max_body_bytes:
            if not self._too_large:
                self._too_large = True
                self._fail(413, f"request body exceeds {self._srv.max_body_bytes} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._dead:
            return
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        method = self._parser.get_method().decode("ascii")
        req = Request(method, path, query, self._headers, body)
        keep_alive = self._parser.should_keep_alive()
        self._enqueue((req, keep_alive, self._parser.get_http_version() == "1.0"))

    # -- queue ------------------------------------------------------------------------------
    def _fail(self, status: int, message: str) -> None:
        self._dead = True
        self._enqueue((error_response(status, message), False, False))

    def _enqueue(self, item: _Item) -> None:
        self._queue.append(item)
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        elif len(self._queue) >= _MAX_PIPELINE and self._transport and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()

    async def _drain(self) -> None:
        try:
            while self._queue and self._transport is not None:
                item, keep_alive, http10 = self._queue.popleft()
                if self._read_paused and self._transport is not None:
                    self._read_paused = False
                    self._transport.resume_reading()
                if isinstance(item, Response):
                    resp, head = item, False
                else:
                    resp, head = await self._call(item), item.method == "HEAD"
                keep_alive = keep_alive and not self._close_when_idle
                if self._transport is None:
                    return
                self._transport.write(self._encode(resp, keep_alive, http10, head))
                if not keep_alive:
                    self._transport.close()
                    return
                if self._write_paused is not None:
                    await self._write_paused
        finally:
            self._busy = False

    @staticmethod
    def _encode(resp: Response, keep_alive: bool, http10: bool, head: bool) -> bytes:
        try:
            return _encode_response(resp, keep_alive=keep_alive, http10=http10, head=head)
        except Exception as exc:  # e.g. a header value that is not latin-1: still answer
            log.exception("cannot encode a %d response", resp.status)
            bad = error_response(500, f"internal error: unencodable response: {exc}")
            return _encode_response(bad, keep_alive=keep_alive, http10=http10, head=head)

    async def _call(self, req: Request) -> Response:
        try:
            return await self._srv.handler(req)
        except Exception as exc:  # the contract: a handler bug is a 500, not a dead connection
            log.exception("handler failed for %s %s", req.method, req.path)
            return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    # -- shutdown ---------------------------------------------------------------------------
    def close_when_idle(self) -> None:
        """Close now if idle, else after the response being produced (sent with close)."""
        self._close_when_idle = True
        if not self._busy and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
