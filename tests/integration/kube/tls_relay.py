"""A loopback TLS relay for kubectl: HTTPS in, the same bytes out to mlkube's plain HTTP port.

Why: kubectl (client-go's clientcmd) only sends a kubeconfig's credentials when the transport
is TLS; against an `http://` server it sends no token at all, so every request is a 401. Until
`mlkube up` serves TLS itself, these tests put this relay (a self-signed certificate made with
the `openssl` command) in front of the real server and point kubectl at it with
`insecure-skip-tls-verify`. Everything above TLS (headers, bodies, watch streams) is the real
server's, byte for byte.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 in `folder`, made by the `openssl` command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise AssertionError("the kubectl tests need the `openssl` command (Debian: openssl)")
    cert, key = folder / "relay.crt", folder / "relay.key"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TlsRelay:
    """Accepts TLS on a free loopback port and relays each connection to `target_port`."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self.target_port = target_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tls-relay", daemon=True)

    def __enter__(self) -> TlsRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join(timeout=5)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes until either side closes, then close both."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()
