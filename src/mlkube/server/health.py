"""The operator's health endpoints: `/healthz` (the process is alive) and `/readyz` (what
`status()` says), as plain-text 200 / 503 on their own small HTTP server."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["health_server"]


def health_server(
    host: str, port: int, status: Callable[[], tuple[bool, str]]
) -> ThreadingHTTPServer:
    """A server (not yet serving) answering `/healthz` 200 "ok", and `/readyz` 200 or 503 with
    the text of `status()` (ready, text), called once per probe from the server's threads."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, "ok")
            elif self.path == "/readyz":
                ready, text = status()
                self._answer(200 if ready else 503, text)
            else:
                self._answer(404, "not found")

        def _answer(self, code: int, text: str) -> None:
            body = f"{text}\n".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not news."""

    server = ThreadingHTTPServer((host, port), Health)
    server.daemon_threads = True
    return server
