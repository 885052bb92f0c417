"""The load generator for benchmarks/serving.py: Debian's `wrk` with `wrk_post.lua`.

wrk is a C event loop, so it is not the bottleneck a Python client would be. The Lua script
POSTs the body from `WRK_BODY` and prints one `RESULT {...}` line of exact figures at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WRK_LUA", "WrkResult", "ensure_wrk", "parse_result", "run_wrk", "start_wrk"]

WRK_LUA = Path(__file__).with_name("wrk_post.lua")


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failed requests."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The path of `wrk`; installs Debian's package when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` as root")
    print("installing wrk (apt-get install -y wrk) ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def _command(url: str, connections: int, seconds: float) -> list[str]:
    # One wrk thread: it saturates these servers and leaves the other core to them.
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(WRK_LUA),
        url,
    ]


def start_wrk(url: str, body: bytes, *, connections: int, seconds: float) -> subprocess.Popen[str]:
    """Start wrk in the background (the autoscaling steps); `communicate()` gets its output."""
    env = dict(os.environ, WRK_BODY=body.decode())
    return subprocess.Popen(
        _command(url, connections, seconds),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_wrk(url: str, body: bytes, *, connections: int, seconds: float) -> WrkResult:
    """Run wrk for `seconds` at `connections` concurrent connections and return its figures."""
    proc = start_wrk(url, body, connections=connections, seconds=seconds)
    output, _ = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}:\n{output}")
    return parse_result(output)


def parse_result(output: str) -> WrkResult:
    """The figures of the `RESULT {...}` line `wrk_post.lua` prints when wrk is done."""
    line = next((ln for ln in output.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    raw = json.loads(line.removeprefix("RESULT "))
    errors = sum(int(raw[k]) for k in ("non2xx", "connect", "read", "write", "timeout"))
    return WrkResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        errors=errors,
    )
