"""A controller test bench: in-memory store, fake runtime, fake clock; no threads, no sleeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlkube.api.kinds import NAMESPACE, PIPELINE_RUN
from mlkube.controllers.manager import ControllerManager
from mlkube.controllers.serving.router_client import RouterAdmin
from mlkube.runtime.base import GpuDevice
from mlkube.storage.layout import DataDir
from mlkube.store.accounting import AccountingLog
from mlkube.testing.clock import FakeClock
from mlkube.testing.fake_runtime import FakeRuntime
from mlkube.testing.memory_store import MemoryStore

STEPS = "mlkube.testing.steps"
RUNS = PIPELINE_RUN.resource


def py(name: str, function: str = "noop", **extra: Any) -> dict[str, Any]:
    return {"name": name, "python": {"module": STEPS, "function": function}, **extra}


class Bench:
    def __init__(
        self,
        root: Path,
        *,
        store: MemoryStore | None = None,
        clock: FakeClock | None = None,
        cpus: tuple[int, ...] = (0, 1, 2, 3),
        gpus: tuple[GpuDevice, ...] = (),
        router: RouterAdmin | None = None,
        accounting: AccountingLog | None = None,
        usage_half_life: float = 3600.0,
        runtime: FakeRuntime | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.store = store or MemoryStore(clock=self.clock)
        self.runtime = runtime or FakeRuntime(
            cpus=cpus, gpus=gpus, clock=lambda: self.clock.now().timestamp()
        )
        self.data = DataDir(root)
        self.manager = ControllerManager(
            self.store,
            self.runtime,
            data=self.data,
            clock=self.clock,
            router=router,
            accounting=accounting,
            usage_half_life=usage_half_life,
        )
        self.seen_rv = self.store.current_resource_version()
        if store is None:
            self.store.create(
                NAMESPACE.resource,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
            )

    def submit(self, steps: list[dict[str, Any]], *, name: str = "r1", **spec: Any) -> str:
        body = {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"pipelineSpec": {"steps": steps, **spec.pop("pipeline", {})}, **spec},
        }
        self.store.create(RUNS, body)
        self.manager.queue.add(f"pipelinerun:default/{name}")
        self.settle()
        return name

    def settle(self) -> None:
        """Deliver store events to the controllers, as their watches would, until quiet."""
        while True:
            events = self.store.events_since(self.seen_rv)
            for event in events:
                self.manager.enqueue_event(event)
                self.seen_rv = event.resource_version
            if not events and not self.manager.process_pending():
                return

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def run(self, name: str = "r1", *, namespace: str = "default") -> dict[str, Any]:
        return self.store.get(RUNS, namespace, name)

    def step(self, step: str, run: str = "r1", *, namespace: str = "default") -> dict[str, Any]:
        steps = self.run(run, namespace=namespace)["status"]["steps"]
        return next(s for s in steps if s["name"] == step)

    def phases(self, run: str = "r1", *, namespace: str = "default") -> dict[str, str]:
        steps = self.run(run, namespace=namespace)["status"]["steps"]
        return {s["name"]: s["phase"] for s in steps}

    def running(self, step: str | None = None) -> list[str]:
        ids = sorted(self.runtime.running())
        return [i for i in ids if step is None or i.split("/")[3] == step]

    def invocation(self, workload_id: str) -> dict[str, Any]:
        spec = self.runtime.spec(workload_id)
        assert spec.python is not None
        result: dict[str, Any] = json.loads(Path(spec.python.args[0]).read_text())
        return result

    def complete(self, workload_id: str, **outputs: Any) -> None:
        """Play the executor: write result.json, then exit 0."""
        invocation = self.invocation(workload_id)
        values = outputs or dict.fromkeys(invocation["outputs"])
        body = {"outputs": [{"name": k, "value": v} for k, v in values.items()]}
        Path(invocation["resultPath"]).write_text(json.dumps(body))
        self.runtime.finish(workload_id, 0)
        self.settle()

    def fail(self, workload_id: str, message: str = "boom", **kwargs: Any) -> None:
        invocation = self.invocation(workload_id)
        if not kwargs:
            body = {"error": {"type": "RuntimeError", "message": message}}
            Path(invocation["resultPath"]).write_text(json.dumps(body))
        else:
            kwargs["message"] = message
        self.runtime.finish(workload_id, kwargs.pop("exit_code", 1), **kwargs)
        self.settle()
