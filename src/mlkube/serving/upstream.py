"""Keep-alive HTTP/1.1 client connections to one upstream (a model-server replica).

:class:`UpstreamPool` keeps a LIFO stack of idle connections (the most recently used one is the
least likely to have been closed by the peer), opens a fresh connection when none is idle, and
never pipelines: one request per connection at a time.

Failure contract (what a router needs to decide between "retry elsewhere" and "502"):

* A *reused idle* connection that turns out closed before any response byte arrived (a stale
  keep-alive) is retried once, transparently, on a fresh connection.
* Anything else raises :class:`UpstreamError`; ``before_response`` tells whether any byte of a
  response had arrived. ``True`` means the upstream never answered (connection refused, reset
  or closed before the status line, connect timeout); ``False`` means it failed mid-response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import httptools

__all__ = ["UpstreamError", "UpstreamPool", "UpstreamResponse"]

# Headers that describe one hop; the pool sets its own framing (Content-Length, keep-alive).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",  # the pool sends whole bodies: an upstream "100 Continue" would only add a trip
    }
)
_CONCAT_LIMIT = 64 * 1024  # below this, one write of head+body beats two writes


class UpstreamError(Exception):
    """The upstream failed. ``before_response``: no response byte had arrived."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response


@dataclass(slots=True)
class UpstreamResponse:
    """A whole response: status, headers as sent (names as received), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Stale(Exception):
    """The connection closed before any response byte: retryable when it was reused."""


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._got_bytes = False
        self._headers_done = False
        self._head = False
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        self._pool._discard(self)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and self._parser.get_status_code() and not self._framed():
            self._finish()  # a body delimited by EOF: the close is the end of the message
        elif not self._got_bytes:
            waiter.set_exception(_Stale(str(exc) if exc else "connection closed"))
        else:
            reason = f"{self._pool.name} closed mid-response" + (f": {exc}" if exc else "")
            waiter.set_exception(UpstreamError(reason, before_response=False))

    def _framed(self) -> bool:
        return any(n.lower() in ("content-length", "transfer-encoding") for n, _ in self._headers)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # unsolicited bytes: the connection's framing can no longer be trusted
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self._waiter.done():
                msg = f"bad response from {self._pool.name}: {exc}"
                self._waiter.set_exception(UpstreamError(msg, before_response=False))
            self.abort()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head:  # the parser cannot know a HEAD response has no body
            self.reusable = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:  # an interim response: the real one follows
            self._headers, self._body, self._headers_done = [], [], False
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result(UpstreamResponse(self._parser.get_status_code(), self._headers, body))

    def send(self, head: bytes, body: bytes, *, is_head: bool) -> asyncio.Future[UpstreamResponse]:
        self._waiter = fut = asyncio.get_running_loop().create_future()
        self._headers, self._body = [], []
        self._got_bytes = self._headers_done = False
        self._head = is_head
        if self.transport is None or self.transport.is_closing():
            fut.set_exception(_Stale("connection already closed"))
            return fut
        if len(body) < _CONCAT_LIMIT:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)
        return fut

    def timed_out(self, timeout: float) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                UpstreamError(
                    f"{self._pool.name} gave no complete response within {timeout}s",
                    before_response=not self._got_bytes,
                )
            )
        self.abort()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


class UpstreamPool:
    """Keep-alive client connections to one upstream ``host:port``.

    ``timeout`` bounds a whole request (send to last body byte); ``None`` waits forever.
    Safe for any number of concurrent callers on one event loop: each request gets its own
    connection, and up to ``max_idle`` connections are kept for reuse afterwards.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_idle: int = 64,
        connect_timeout: float = 5.0,
        timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = f"upstream {host}:{port}"
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._idle: list[_ClientProtocol] = []
        self._host_line = f"host: {host}:{port}\r\n"
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        """Send one request and return the whole response.

        ``headers`` are forwarded except hop-by-hop ones and Content-Length (the pool frames the
        body itself); a Host header is added unless given. Raises :class:`UpstreamError`.
        """
        head = self._encode_head(method, target, headers, len(body))
        is_head = method == "HEAD"
        for _ in range(2):
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                resp = await self._roundtrip(conn, head, body, is_head)
            except _Stale as exc:
                if reused:
                    continue  # a keep-alive the peer had closed: one retry on a fresh connection
                raise UpstreamError(
                    f"{self.name} closed the connection before responding: {exc}",
                    before_response=True,
                ) from None
            self._release(conn)
            return resp
        raise UpstreamError(f"{self.name}: stale connection twice", before_response=True)

    async def _roundtrip(
        self, conn: _ClientProtocol, head: bytes, body: bytes, is_head: bool
    ) -> UpstreamResponse:
        fut = conn.send(head, body, is_head=is_head)
        timer = None
        if self.timeout is not None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.timeout, conn.timed_out, self.timeout)
        try:
            return await fut
        except BaseException:
            conn.abort()  # cancelled or failed mid-exchange: the connection state is unknown
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _encode_head(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], length: int
    ) -> bytes:
        parts = [f"{method} {target} HTTP/1.1\r\n"]
        has_host = False
        for name, value in headers:
            low = name.lower()
            if low in HOP_BY_HOP:
                continue
            if low == "host":
                has_host = True
            parts.append(f"{name}: {value}\r\n")
        if not has_host:
            parts.append(self._host_line)
        parts.append(f"content-length: {length}\r\n\r\n")
        return "".join(parts).encode("latin-1")

    async def _connect(self) -> _ClientProtocol:
        if self._closed:
            raise UpstreamError(f"{self.name}: pool is closed", before_response=True)
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _ClientProtocol(self), self.host, self.port),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamError(
                f"{self.name}: connect timed out after {self.connect_timeout}s",
                before_response=True,
            ) from None
        except OSError as exc:
            msg = f"{self.name}: connect failed: {exc}"
            raise UpstreamError(msg, before_response=True) from None
        return proto

    def _release(self, conn: _ClientProtocol) -> None:
        if conn.reusable and not self._closed and len(self._idle) < self.max_idle:
            conn._waiter = None
            self._idle.append(conn)
        else:
            self._close_conn(conn)

    @staticmethod
    def _close_conn(conn: _ClientProtocol) -> None:
        if conn.transport is not None:
            conn.transport.close()

    def _discard(self, conn: _ClientProtocol) -> None:
        if conn in self._idle:
            self._idle.remove(conn)

    async def close(self) -> None:
        """Close idle connections now; busy ones close when their response completes."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._close_conn(conn)
