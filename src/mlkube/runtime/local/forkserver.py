"""The warm worker: a single-threaded process that forks every workload.

    python -m mlkube.runtime.local.forkserver FD PARENT_PID

`LocalRuntime` starts one lazily and talks to it over the Unix socket `FD` (JSON lines, see
`protocol.py`). Forking here rather than in the platform process matters: the platform is
multi-threaded, and a fork there would copy locks held by other threads mid-operation; this
process has one thread, so fork is safe.

Speed: the server keeps one *spare* child forked in advance (when it has nothing else to do);
a launch hands its request to the spare through a pipe, so neither the fork nor the generic
set-up is on the launch path (see `child.py`). `preload` entries are imported here before
the hand-over; an import that changes the server's image retires the spare, which was forked
without it, and the launch forks afresh.

Exits are observed with one pidfd per child in a selector: no SIGCHLD handler, no polling.
When a workload's main process exits, the server SIGKILLs what is left of its process group
(the zombie still reserves the group id, so the kill cannot hit a recycled id), reaps it with
`wait4` (exit status and rusage) and reports.

Parent death: the server asks the kernel for SIGTERM when its parent dies (and also sees EOF
on the socket); either way it SIGKILLs every workload's process group, grandchildren
included, and exits. Each workload also has PDEATHSIG=SIGKILL towards this server, a
backstop for the case where the server itself is SIGKILLed.
"""

from __future__ import annotations

import gc
import math
import os
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, cast

from mlkube.runtime.local import protocol
from mlkube.runtime.local.child import LaunchError, set_parent_death_signal, spare_main
from mlkube.runtime.local.sourceimport import import_source, is_source_path, module_name_for_path

__all__ = ["ForkServer", "main"]


_SPARE_AFTER_QUIET = 0.003  # seconds without events before the next spare is forked


class _Terminated(BaseException):
    """Raised by the SIGTERM handler: our parent died (PDEATHSIG) or someone asked us to go."""


class _Child:
    """A forked child: a spare until `id` is set, then that workload's main process."""

    __slots__ = ("errpipe", "id", "image", "kill_at", "pid", "pidfd", "request_fd", "stopped")

    def __init__(self, pid: int, pidfd: int, errpipe: int, request_fd: int, image: int) -> None:
        self.id: str | None = None
        self.pid = pid
        self.pidfd = pidfd
        self.errpipe = errpipe  # read end; the child writes a set-up failure here
        self.request_fd = request_fd  # write end of its request pipe, -1 once handed over
        self.image = image  # the server's image version it was forked from
        self.stopped = False
        self.kill_at: float | None = None


class ForkServer:
    """Serves launch/stop requests on socket `fd` until shutdown, EOF or SIGTERM."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pid = os.getpid()
        self._selector = selectors.EpollSelector()
        self._selector.register(fd, selectors.EVENT_READ, None)
        self._children: dict[int, _Child] = {}
        self._by_id: dict[str, _Child] = {}
        self._buffer = b""
        self._shutdown = False
        self._spare: _Child | None = None
        self._want_spare = True
        self._quiet_since = time.monotonic()
        self._image = 0  # bumped by every import that changes what a fork inherits

    def serve(self) -> None:
        """Run until asked to shut down (report every exit) or the parent goes away."""
        report = False
        try:
            while self._serve_once():
                pass
            report = self._shutdown
        except (_Terminated, OSError):
            pass  # the parent is gone (or going): nobody to report to
        try:
            self._kill_all(report=report)
        except (_Terminated, OSError):
            self._kill_all(report=False)

    def _serve_once(self) -> bool:
        events = self._selector.select(self._next_timeout())
        now = time.monotonic()
        if events:
            self._quiet_since = now
        for key, _ in events:
            if key.data is None:
                if not self._read_requests():
                    return False
            else:
                self._reap(cast(_Child, key.data))
        self._fire_kills()
        if self._spare_due() <= now:
            self._make_spare()
        return True

    def _read_requests(self) -> bool:
        data = os.read(self._fd, 1 << 16)
        if not data:
            return False
        self._buffer += data
        while b"\n" in self._buffer and not self._shutdown:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._handle(line)
        return not self._shutdown

    def _handle(self, line: bytes) -> None:
        request: dict[str, Any] = {}
        try:
            request = protocol.decode(line)
            self._dispatch(request)
        except (_Terminated, BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:
            # A bug or a bad request must not take every running workload down with us.
            traceback.print_exc()
            if request.get("op") == "launch":
                message = f"runtime worker error: {type(exc).__name__}: {exc}"
                self._send({"ev": "failed", "id": request.get("id"), "message": message})

    def _dispatch(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "launch":
            self._launch(cast(protocol.LaunchRequest, request))
        elif op == "stop":
            self._stop(str(request["id"]), float(request["grace"]))
        elif op == "kill":
            self._kill(str(request["id"]))
        elif op == "preload":
            self._preload(list(request["refs"]), log_path=None)
        elif op == "shutdown":
            self._shutdown = True
        else:
            print(f"mlkube fork server: unknown request {request!r}", file=sys.stderr)

    def _send(self, message: Any) -> None:
        data = protocol.encode(message)
        while data:
            data = data[os.write(self._fd, data) :]

    # -- launch --------------------------------------------------------------------------

    def _launch(self, request: protocol.LaunchRequest) -> None:
        workload_id = request["id"]
        existing = self._by_id.get(workload_id)
        if existing is not None:
            self._send({"ev": "started", "id": workload_id, "pid": existing.pid})
            return
        if request["target"] is not None and request["preload"]:
            problem = self._preload(request["preload"], log_path=request["log_path"])
            if problem:
                self._send({"ev": "failed", "id": workload_id, "message": problem})
                return
        try:
            child = self._take_spare() or self._fork()
        except OSError as exc:
            message = f"cannot start a process: {exc.strerror}"
            self._send({"ev": "failed", "id": workload_id, "message": message})
            return
        self._want_spare = True
        child.id = workload_id
        self._by_id[workload_id] = child
        # Reply first: the platform's launch() returns while the child reads its request.
        self._send({"ev": "started", "id": workload_id, "pid": child.pid})
        self._hand_over(child, request)

    def _hand_over(self, child: _Child, request: protocol.LaunchRequest) -> None:
        try:
            data = protocol.encode(protocol.child_request(request, os.environ))
            # A child that died waiting (killed from outside) makes this fail; its exit is
            # then reported like any other, as this workload's.
            with suppress(OSError):
                _write_all(child.request_fd, data)
        finally:
            self._retire(child)  # EOF: the child has all of it (or nothing, and exits)

    def _take_spare(self) -> _Child | None:
        spare, self._spare = self._spare, None
        if spare is not None and spare.image != self._image:
            self._retire(spare)  # forked before the latest import: it lacks it
            return None
        return spare

    def _make_spare(self) -> None:
        try:
            self._spare = self._fork()
        except OSError as exc:
            # Out of processes or fds: do not retry in a loop; the next launch will.
            print(f"mlkube fork server: cannot fork a spare: {exc}", file=sys.stderr)
            self._want_spare = False

    def _retire(self, spare: _Child) -> None:
        # Closes its request pipe: after a request, EOF ends it; without one, EOF tells the
        # spare to exit quietly, and it is reaped unreported.
        if spare.request_fd >= 0:
            os.close(spare.request_fd)
            spare.request_fd = -1

    def _fork(self) -> _Child:
        errpipe_r, errpipe_w = os.pipe2(os.O_CLOEXEC)
        request_r, request_w = os.pipe2(os.O_CLOEXEC)
        inherited = [*self._own_fds(), errpipe_r, request_w]
        sys.stdout.flush()
        sys.stderr.flush()
        # Keep the garbage collector in the child off the server's objects: a collection
        # would write to every object header and copy-on-write the whole preloaded image.
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            for fd in (errpipe_r, errpipe_w, request_r, request_w):
                os.close(fd)
            raise
        if pid == 0:
            spare_main(
                server_pid=self._pid, request_fd=request_r, errpipe=errpipe_w, close_fds=inherited
            )
        os.close(errpipe_w)
        os.close(request_r)
        os.set_blocking(errpipe_r, False)
        # The child does this too; doing it here as well closes the race with an early stop.
        with suppress(OSError):
            os.setpgid(pid, pid)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            os.kill(pid, signal.SIGKILL)  # untrackable: do not leave it running unobserved
            os.waitpid(pid, 0)
            os.close(errpipe_r)
            os.close(request_w)
            raise
        child = _Child(pid, pidfd, errpipe_r, request_w, self._image)
        self._children[pid] = child
        self._selector.register(pidfd, selectors.EVENT_READ, child)
        return child

    def _own_fds(self) -> list[int]:
        fds = [self._fd, self._selector.fileno()]
        for child in self._children.values():
            fds += [child.pidfd, child.errpipe, child.request_fd]
        return [fd for fd in fds if fd >= 0]

    def _preload(self, refs: Sequence[str], *, log_path: str | None) -> str:
        """Import each ref into this server; the first failure as a sentence, or ""."""
        for ref in refs:
            name = module_name_for_path(ref) if is_source_path(ref) else ref
            before = sys.modules.get(name)
            try:
                module = import_source(ref)
            except _Terminated:
                raise
            except BaseException as exc:
                problem = f"cannot preload {ref!r}: {type(exc).__name__}: {exc}"
                _append_to_log(log_path, f"mlkube: {problem}\n{traceback.format_exc()}")
                return problem
            if module is not before:
                self._image += 1
        return ""

    # -- stop and exit -------------------------------------------------------------------

    def _stop(self, workload_id: str, grace: float) -> None:
        child = self._by_id.get(workload_id)
        if child is None:
            return
        child.stopped = True
        _kill_group(child.pid, signal.SIGTERM)
        if grace <= 0:
            _kill_group(child.pid, signal.SIGKILL)
            return
        deadline = time.monotonic() + grace
        child.kill_at = deadline if child.kill_at is None else min(child.kill_at, deadline)

    def _kill(self, workload_id: str) -> None:
        # Only while we have not reaped it: its group id cannot have been recycled yet.
        child = self._by_id.get(workload_id)
        if child is not None:
            _kill_group(child.pid, signal.SIGKILL)

    def _spare_due(self) -> float:
        # After a short quiet spell, so that making it neither delays an exit report nor
        # competes for a CPU with a workload that is just starting. Back-to-back launches
        # simply fork directly.
        if self._spare is not None or not self._want_spare:
            return math.inf
        return self._quiet_since + _SPARE_AFTER_QUIET

    def _next_timeout(self) -> float | None:
        deadlines = [c.kill_at for c in self._children.values() if c.kill_at is not None]
        deadlines.append(self._spare_due())
        soonest = min(deadlines)
        return None if soonest == math.inf else max(0.0, soonest - time.monotonic())

    def _fire_kills(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if child.kill_at is not None and child.kill_at <= now:
                child.kill_at = None
                _kill_group(child.pid, signal.SIGKILL)

    def _reap(self, child: _Child) -> None:
        # The leader is a zombie now and still holds its group id: clear out the rest of
        # the group (a workload ends when its main process does, as in a container).
        _kill_group(child.pid, signal.SIGKILL)
        _, status, rusage = os.wait4(child.pid, 0)
        finished_at = time.time()
        self._selector.unregister(child.pidfd)
        os.close(child.pidfd)
        launch_error = _read_quietly(child.errpipe)
        os.close(child.errpipe)
        self._retire(child)
        del self._children[child.pid]
        if child is self._spare:
            self._spare = None
        if child.id is None:
            return
        del self._by_id[child.id]
        event: protocol.ExitedEvent = {
            "ev": "exited",
            "id": child.id,
            "pid": child.pid,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "stopped": child.stopped,
            "launch_error": launch_error,
            "cpu_seconds": rusage.ru_utime + rusage.ru_stime,
            "max_rss_bytes": rusage.ru_maxrss * 1024,
            "finished_at": finished_at,
        }
        self._send(event)

    def _kill_all(self, *, report: bool) -> None:
        for child in self._children.values():
            child.stopped = True
            _kill_group(child.pid, signal.SIGKILL)
        if report:
            for child in list(self._children.values()):
                self._reap(child)


def _kill_group(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _read_quietly(fd: int) -> str:
    try:
        return os.read(fd, 1 << 16).decode("utf-8", "replace")
    except OSError:
        return ""


def _append_to_log(log_path: str | None, text: str) -> None:
    if not log_path:
        print(text, file=sys.stderr)
        return
    with suppress(OSError):
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(text)


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str]) -> int:
    """Entry point: `argv = [socket_fd, parent_pid]`. Returns the server's exit code."""
    fd, parent = int(argv[0]), int(argv[1])
    # ^C at a terminal is for the platform to handle; we follow it through the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        set_parent_death_signal(signal.SIGTERM, expected_parent=parent)
    except LaunchError:
        return 1
    os.set_inheritable(fd, False)
    with suppress(_Terminated):
        ForkServer(fd).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
