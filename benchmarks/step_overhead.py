"""Per-step overhead of the embedded platform, beside the floor measured in the same run.

Runs a 20-step chain and a 32-way fan-out + join of trivial steps (`mlkube.testing.trivial.noop`)
through the real store (SQLite, every transition written), controllers and local runtime, in
warm (fork from a pre-imported worker) and fresh-process modes, with caching off. Floors: a
`fork()` + pipe round trip, and `python -c pass`.

    .venv/bin/python benchmarks/step_overhead.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlkube.api.clock import SystemClock
from mlkube.api.kinds import NAMESPACE, PIPELINE_RUN
from mlkube.controllers.manager import ControllerManager
from mlkube.runtime.local.runtime import LocalRuntime
from mlkube.storage.layout import DataDir
from mlkube.store.sqlite import SqliteStore

NOOP = {"module": "mlkube.testing.trivial", "function": "noop"}


def fork_pipe_floor(rounds: int = 300) -> float:
    """Seconds for fork + child writes one byte to a pipe + parent reads + waitpid."""
    start = time.perf_counter()
    for _ in range(rounds):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, b"x")
            os._exit(0)
        os.read(r, 1)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
    return (time.perf_counter() - start) / rounds


def python_floor(rounds: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) / rounds


def step(name: str, isolation: str, *after: str) -> dict[str, Any]:
    """A trivial step, run after the steps named in `after`."""
    spec: dict[str, Any] = {"name": name, "python": NOOP, "isolation": isolation, "outputs": []}
    if after:
        spec["dependsOn"] = list(after)
    return spec


def chain(n: int, isolation: str) -> list[dict[str, Any]]:
    return [step("s0", isolation)] + [step(f"s{i}", isolation, f"s{i - 1}") for i in range(1, n)]


def fan(width: int, isolation: str) -> list[dict[str, Any]]:
    workers = [step(f"w{i}", isolation, "root") for i in range(width)]
    return [
        step("root", isolation),
        *workers,
        step("join", isolation, *(w["name"] for w in workers)),
    ]


class Platform:
    """Store + runtime + controllers in this process, as `mlkube up` runs them (no HTTP)."""

    def __init__(self, root: Path) -> None:
        self.store = SqliteStore(root / "state.db", clock=SystemClock())
        self.store.create(
            NAMESPACE.resource,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
        )
        self.runtime = LocalRuntime(sample_interval=5.0)
        self.manager = ControllerManager(
            self.store, self.runtime, data=DataDir(root), clock=SystemClock()
        )
        self.manager.start()
        self.count = 0

    def run(self, steps: list[dict[str, Any]]) -> float:
        self.count += 1
        name = f"run-{self.count}"
        body = {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {"pipelineSpec": {"steps": steps}, "cache": False},
        }
        start = time.perf_counter()
        obj = self.store.create(PIPELINE_RUN.resource, body)
        watch = self.store.watch(
            PIPELINE_RUN.resource, "bench", resource_version=int(obj["metadata"]["resourceVersion"])
        )
        try:
            while True:
                event = watch.next(timeout=60)
                if event is None:
                    raise TimeoutError(f"{name} did not finish")
                phase = (event.object.get("status") or {}).get("phase")
                if event.object["metadata"]["name"] == name and phase in ("Succeeded", "Failed"):
                    if phase != "Succeeded":
                        raise RuntimeError(f"{name} failed: {event.object['status']}")
                    return time.perf_counter() - start
        finally:
            watch.close()

    def close(self) -> None:
        self.manager.stop()
        self.runtime.close()
        self.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape; the median is shown")
    args = parser.parse_args()
    fork_floor = fork_pipe_floor()
    py_floor = python_floor()
    print(
        f"floor: fork()+pipe round trip {fork_floor * 1e3:.2f} ms, "
        f"`python -c pass` {py_floor * 1e3:.1f} ms"
    )
    print(
        f"{'shape':<22}{'mode':<9}{'steps':>6}{'wall (median)':>15}{'per step':>11}"
        f"{'÷ fork floor':>14}{'÷ python floor':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp))
        try:
            platform.run(chain(3, "fork"))  # warm up: the fork server starts, imports settle
            for label, make, count in (
                ("20-step chain", chain, 20),
                ("32-way fan-out + join", fan, 32),
            ):
                for mode in ("fork", "process"):
                    steps = make(count, mode)
                    walls = [platform.run(steps) for _ in range(args.repeat)]
                    wall = statistics.median(walls)
                    per = wall / len(steps)
                    print(
                        f"{label:<22}{mode:<9}{len(steps):>6}{wall * 1e3:>12.1f} ms"
                        f"{per * 1e3:>8.2f} ms"
                        f"{per / fork_floor:>13.1f}x{per / py_floor:>15.2f}x"
                    )
        finally:
            platform.close()
    print("(per step = wall / steps; every step transition is committed to SQLite)")


if __name__ == "__main__":
    main()
