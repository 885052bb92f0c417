"""Python targets that the integration tests run as real workloads (by file path).

Not a test module: the runtime imports it in its workers. Each function reports what it sees
to a file given as an argument, so the test can read it after the workload exits.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlkube.runtime.local.sourceimport import import_source


def hello(code: str = "0", *words: str) -> int:
    print("hello from", os.environ.get("MLKUBE_WORKLOAD_ID"), *words)
    print("to stderr", file=sys.stderr)
    return int(code)


def return_none() -> None:
    print("nothing to return")


def raise_error() -> None:
    raise ValueError("boom from the workload")


def abort() -> None:
    os.abort()


def write_env(path: str, *names: str) -> None:
    seen = {name: os.environ.get(name) for name in names}
    Path(path).write_text(json.dumps(seen))


def write_facts(path: str) -> None:
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cwd": os.getcwd(),
        "argv": sys.argv,
        "sys_path": sys.path[:3],
    }
    Path(path).write_text(json.dumps(facts))


def report_preload(path: str, preload_ref: str) -> None:
    probe = import_source(preload_ref)
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "import_pid": probe.IMPORT_PID,
    }
    Path(path).write_text(json.dumps(facts))


def allocate(mebibytes: str) -> int:
    block = bytearray(int(mebibytes) << 20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    print("allocated", len(block))
    return 0


def sleep(seconds: str = "300") -> None:
    time.sleep(float(seconds))


def print_then_sleep(seconds: str = "300") -> None:
    print("first line", flush=False)  # line buffering must push it out on its own
    time.sleep(float(seconds))


def ignore_sigterm(ready_path: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(ready_path).write_text("ready")
    time.sleep(300)


def spawn_grandchild(pid_path: str) -> None:
    child = subprocess.Popen(["sleep", "300"])
    Path(pid_path).write_text(str(child.pid))
    child.wait()


def spin(seconds: str, mebibytes: str = "0") -> None:
    ballast = bytearray(int(mebibytes) << 20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        pass


def allocate_and_hold(mebibytes: str, seconds: str = "60") -> None:
    block = bytearray(int(mebibytes) << 20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just mapped
    print("allocated", len(block), flush=True)
    time.sleep(float(seconds))


def map_untouched(gibibytes: str, seconds: str = "0.5") -> None:
    """Reserve address space as CUDA does at start-up, without making any of it resident."""
    region = mmap.mmap(-1, int(gibibytes) << 30)
    print("mapped", len(region), flush=True)
    time.sleep(float(seconds))
    region.close()


def share_with_children(mebibytes: str, children: str, seconds: str = "0.5") -> None:
    """Touch memory, then fork children that keep it mapped (as data-loader workers do)."""
    block = bytearray(int(mebibytes) << 20)
    block[::4096] = b"x" * len(block[::4096])
    pids = []
    for _ in range(int(children)):
        pid = os.fork()
        if pid == 0:
            time.sleep(float(seconds))
            os._exit(0)
        pids.append(pid)
    print("forked", len(pids), "children sharing", len(block), flush=True)
    for pid in pids:
        os.waitpid(pid, 0)
