"""The workload side of a fork: a spare process made in advance, then one workload.

The fork server keeps one *spare* child forked ahead of need (`spare_main`). The spare does
the set-up that is the same for every workload, then blocks reading its request:

    spare:   SIGTERM back to default -> drop the server's fds -> own process group
             -> parent-death signal (SIGKILL) -> fresh stdio objects
    request: CPU affinity -> memory cgroup (or RLIMIT_AS) -> working directory
             -> stdout/stderr to the log -> exec the program, or environment + run the
             Python target in place

RLIMIT_AS is set only when the request has no cgroup but carries `memory_limit`; a GPU
workload's request never does (CUDA/ROCm could not start under it: the runtime watches its
memory by sampling instead, see `plan.py` and `memwatch.py`).

So a launch pays neither the fork nor the generic set-up (copy-on-write page faults make each
step in a fresh fork cost far more than in a warm process), and every limit is in force before
the first line of user code and the first page it touches. A failing step raises
`LaunchError`; its sentence goes back through the error pipe and is reported `LaunchFailed`.
Stdlib only.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import os
import resource
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn, cast

from mlkube.runtime.local import protocol
from mlkube.runtime.local.protocol import ChildRequest
from mlkube.runtime.local.target import run_target

__all__ = [
    "SETUP_FAILED_EXIT_CODE",
    "LaunchError",
    "exec_program",
    "set_parent_death_signal",
    "spare_main",
]

SETUP_FAILED_EXIT_CODE = 127

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class LaunchError(Exception):
    """A set-up step failed; the message says which and why, for the workload's owner."""


def set_parent_death_signal(sig: int, *, expected_parent: int) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits.

    The request only covers a parent that is still alive, so check afterwards that the parent
    is the expected one: if it already died we were re-parented and must not run at all.
    Note the kernel ties this to the parent *thread* that forked us.
    """
    if _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise LaunchError(f"cannot set the parent-death signal: {os.strerror(err)}")
    if os.getppid() != expected_parent:
        raise LaunchError("the runtime exited while the workload was starting")


def spare_main(
    *, server_pid: int, request_fd: int, errpipe: int, close_fds: Sequence[int]
) -> NoReturn:
    """The whole life of a forked child: wait as a spare, then run one workload. Never returns.

    EOF on `request_fd` without a request means "not needed": exit 0 quietly.
    """
    code = SETUP_FAILED_EXIT_CODE
    try:
        _become_spare(server_pid, close_fds)
        stdin, stdout, stderr = _open_stdio()
        request = _read_request(request_fd)
        if request is None:
            os._exit(0)  # retired without a request
        _apply_limits(request, inherits_image=request["argv"] is None)
        _change_environ(request["env_set"], request["env_unset"])
        if request["argv"] is not None:
            exec_program(request["argv"])
        _become_python_workload(request["cwd"], (stdin, stdout, stderr))
        os.close(errpipe)
        errpipe = -1
        module, function, *args = request["target"] or []
        sys.argv = [module, *args]  # as a fresh `python -m entry` would see it
        code = run_target(module, function, args)
        _finish_python_workload()
    except BaseException as exc:
        if errpipe >= 0:
            with contextlib.suppress(OSError):
                os.write(errpipe, _describe(exc).encode())
    finally:
        os._exit(code)


def _become_spare(server_pid: int, close_fds: Sequence[int]) -> None:
    # An early stop must kill us the plain way, not run the server's handler.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.setpgid(0, 0)
    set_parent_death_signal(signal.SIGKILL, expected_parent=server_pid)


def _read_request(fd: int) -> ChildRequest | None:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    data = b"".join(chunks)
    return cast(ChildRequest, protocol.decode(data)) if data else None


def _apply_limits(request: ChildRequest, *, inherits_image: bool) -> None:
    """Affinity, memory (cgroup, RLIMIT_AS or neither), cwd and log for `request`, here.

    `inherits_image` is True when the target runs in this forked image (warm mode): the
    rlimit fallback then allows the memory limit on top of the address space inherited from
    the server, as the cgroup path charges only pages the child itself touches.
    """
    if request["cpus"]:
        _pin(request["cpus"])
    if request["cgroup_procs"]:
        _join_cgroup(request["cgroup_procs"])
    elif request["memory_limit"]:
        _limit_address_space(request["memory_limit"], inherits_image=inherits_image)
    try:
        os.chdir(request["cwd"])
    except OSError as exc:
        raise LaunchError(
            f"cannot enter working directory {request['cwd']}: {exc.strerror}"
        ) from None
    _redirect_output(request["log_path"])


def _pin(cpus: Sequence[int]) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        raise LaunchError(f"cannot pin to cpus {list(cpus)}: {exc.strerror}") from None


def _join_cgroup(procs_path: str) -> None:
    try:
        fd = os.open(procs_path, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise LaunchError(f"cannot join memory cgroup {procs_path}: {exc.strerror}") from None


def _limit_address_space(limit: int, *, inherits_image: bool) -> None:
    base = 0
    if inherits_image:
        with open("/proc/self/statm", "rb") as statm:
            base = int(statm.read().split()[0]) * resource.getpagesize()
    try:
        resource.setrlimit(resource.RLIMIT_AS, (base + limit, base + limit))
    except (OSError, ValueError) as exc:
        raise LaunchError(f"cannot limit memory to {limit} bytes: {exc}") from None


def _redirect_output(log_path: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        try:
            fd = os.open(log_path, flags, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            fd = os.open(log_path, flags, 0o644)
    except OSError as exc:
        raise LaunchError(f"cannot open log {log_path}: {exc.strerror}") from None
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(null)
    os.close(fd)


def exec_program(argv: Sequence[str]) -> NoReturn:
    """Replace this process with `argv` (PATH from `os.environ`); `LaunchError` if it fails."""
    # Python ignores these; ignored dispositions survive exec, so hand back the defaults.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execvp(argv[0], list(argv))
    except OSError as exc:
        raise LaunchError(f"cannot run {argv[0]!r}: {exc.strerror}") from None


def _become_python_workload(cwd: str, stdio: tuple[io.TextIOWrapper, ...]) -> None:
    # The interpreter state a fresh `python -m` would give: `sys.path[0]` = the working
    # directory, stdio on the log, and only the workload's own atexit handlers (the
    # server's, inherited by fork, must not run here).
    sys.path.insert(0, cwd)
    sys.stdin, sys.stdout, sys.stderr = stdio
    atexit._clear()


def _open_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    # Made while still a spare; they write to fds 1 and 2, which are pointed at the log later.
    # They live until os._exit, hence no `with`.
    stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    return stdin, _line_buffered(1), _line_buffered(2)


def _change_environ(env_set: Mapping[str, str], env_unset: Sequence[str]) -> None:
    for name in env_unset:
        os.environ.pop(name, None)
    os.environ.update(env_set)


def _line_buffered(fd: int) -> io.TextIOWrapper:
    return open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)


def _finish_python_workload() -> None:
    # What interpreter shutdown would do: join non-daemon threads, run atexit, flush.
    threading = sys.modules.get("threading")
    if threading is not None:
        for thread in threading.enumerate():
            if not thread.daemon and thread is not threading.current_thread():
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LaunchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
