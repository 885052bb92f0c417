"""The platform side of the fork server: start it, send it requests, read its events.

One long-lived thread owns the server process. It spawns it (lazily, on the first
`ensure_running`), reads its events until EOF and hands each to `on_event`; when the server
is gone it calls `on_lost(generation, ...)` so the runtime can report the workloads that died
with it, and it spawns a new one on the next `ensure_running`.

The spawning has to happen on this thread and not on the caller's: the server asks for
SIGTERM when its parent dies, and the kernel ties that to the *thread* that forked it, so a
server started from a short-lived request thread would be killed when that thread ends.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from mlkube.runtime.local import protocol

__all__ = ["ServerLink"]

_log = logging.getLogger(__name__)

SERVER_MODULE = "mlkube.runtime.local.forkserver"
_START_TIMEOUT = 30.0


class ServerLink:
    """One fork server at a time, restarted on demand after it dies. Thread-safe."""

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None],
        on_lost: Callable[[int, str], None],
    ) -> None:
        self._on_event = on_event
        self._on_lost = on_lost
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._want = False
        self._closing = False
        self._spawn_error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._thread: threading.Thread | None = None

    @property
    def server_pid(self) -> int | None:
        """The pid of the live fork server, if there is one."""
        with self._cond:
            return self._proc.pid if self._proc is not None and self._sock else None

    def ensure_running(self) -> None:
        """Start the server if none is running; `RuntimeError` if it cannot be started."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the runtime is closed")
            if self._sock is not None:
                return
            self._want, self._spawn_error = True, None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlkube-forkserver", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: self._sock is not None or self._spawn_error is not None or self._closing,
                timeout=_START_TIMEOUT,
            )
            if self._sock is None:
                raise RuntimeError(f"cannot start the runtime worker: {self._spawn_error}")

    def send(
        self, message: protocol.Request, *, on_sent: Callable[[int], None] | None = None
    ) -> None:
        """Send one request; `OSError` if no server is running or it has gone.

        `on_sent(generation)` runs under the send lock, before `on_lost` can run for that
        generation: whoever records "sent to generation N" cannot miss the loss of N.
        """
        data = protocol.encode(message)
        with self._send_lock:
            sock, generation = self._sock, self._generation
            if sock is None:
                raise ConnectionError("the runtime worker is not running")
            sock.sendall(data)
            if on_sent is not None:
                on_sent(generation)

    def close(self, *, timeout: float) -> None:
        """Ask the server to kill what is left, report it and exit; then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        with suppress(OSError):
            self.send({"op": "shutdown"})
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            self.kill()
            thread.join(timeout)

    def kill(self) -> None:
        """SIGKILL the server (its workloads die with it); the loss is reported as usual."""
        with self._cond:
            proc = self._proc
        if proc is not None:
            with suppress(OSError):
                proc.send_signal(signal.SIGKILL)

    # -- the owning thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._want or self._closing)
                if self._closing:
                    return
            try:
                proc, sock = _spawn()
            except OSError as exc:
                with self._cond:
                    self._spawn_error, self._want = exc, False
                    self._cond.notify_all()
                continue
            with self._send_lock, self._cond:
                self._proc, self._sock = proc, sock
                self._generation += 1
                generation = self._generation
                self._cond.notify_all()
            self._serve(proc, sock, generation)
            with self._cond:
                if self._closing:
                    return

    def _serve(self, proc: subprocess.Popen[bytes], sock: socket.socket, generation: int) -> None:
        with sock.makefile("rb") as events:
            for line in events:
                self._deliver(line)
        with self._send_lock, self._cond:
            self._sock, self._want = None, False
            closing = self._closing
        try:
            code = proc.wait(timeout=_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        sock.close()
        with self._cond:
            self._proc = None
        why = "runtime closed" if closing else f"runtime worker exited unexpectedly (code {code})"
        self._on_lost(generation, why)

    def _deliver(self, line: bytes) -> None:
        try:
            self._on_event(protocol.decode(line))
        except Exception:
            _log.exception("runtime: failed to handle worker event %r", line[:200])


def _spawn() -> tuple[subprocess.Popen[bytes], socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Its own session: ^C at the platform's terminal is the platform's to handle.
            start_new_session=True,
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return proc, ours
