"""How a step attempt is handed to the executor and how its result comes back.

Two exchanges, one contract (`StepExchange`):

- `FolderExchange` (the embedded platform, and an operator whose pods share its `--data`
  folder): `invocation.json` and `result.json` live in the attempt's folder, and the workload
  runs `mlkube.executor.step.run(<folder>/invocation.json)`, which the local runtime can fork
  from a warm worker.
- `ObjectStoreExchange` (an operator with `--artifact-store s3://...`): the invocation and the
  result are objects under `attempts/NS/RUN/UID8/STEP/ATTEMPT/` in the store, and the workload
  runs `python -m mlkube.executor`, told where they are by `MLKUBE_INVOCATION_URI`,
  `MLKUBE_RESULT_URI` and `MLKUBE_ARTIFACT_STORE`. A pod then needs nothing of the operator's
  disk; the attempt folder still holds the log the runtime copies out of the pod.

Either way the attempt's artifacts go to `artifacts_root`: a local folder, or the object store
(then a step's outputs are `s3://` URIs that the next step, wherever it runs, can read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlkube.api.pipeline import StepSpec, step_invocation
from mlkube.runtime.base import PythonTarget
from mlkube.storage.layout import DataDir
from mlkube.storage.objectstore import ObjectStore, open_object_store

EXECUTOR = PythonTarget(module="mlkube.executor.step", function="run", args=())
EXECUTOR_MODULE_COMMAND = ("python", "-m", "mlkube.executor")


@dataclass(frozen=True)
class ExecutorCall:
    """How to start the executor for one attempt: exactly one of `python` (a target the local
    runtime may fork) and `command`, plus `env` for the executor; `folder` is the attempt's
    local folder (its log, and the working directory when the step names none)."""

    folder: Path
    python: PythonTarget | None = None
    command: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Where the workload starts when the step names no workingDir; None: this machine's
    # attempt folder, or the folder of the step's `.py` file.
    cwd: str | None = None


class StepExchange(Protocol):
    """Hands attempts to the executor and reads back what they produced."""

    def write(
        self, attempt: AttemptPath, step: StepSpec, inputs: dict[str, dict[str, Any]]
    ) -> ExecutorCall:
        """Record the invocation of a new attempt (dropping any earlier result of the same
        attempt number) and say how to start the executor for it."""
        ...

    def read_result(self, attempt: AttemptPath) -> dict[str, Any] | None:
        """The executor's result for the attempt (`{"outputs": [...]}` or `{"error": {...}}`),
        or None when it wrote none (it crashed, or never started)."""
        ...

    def discard_result(self, attempt: AttemptPath) -> None:
        """Forget the result of an attempt whose workload has ENDED and whose number will be
        used again (a preempted attempt). Not done by `write`: a step found running after a
        restart is launched again under the same number and adopted, and the result its
        still-running workload writes is the one to keep."""
        ...


class AttemptPath(Protocol):
    """What names an attempt (`launch.StepAttempt` is one)."""

    @property
    def namespace(self) -> str: ...
    @property
    def run(self) -> str: ...
    @property
    def run_uid(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def attempt(self) -> int: ...


def invocation_body(
    step: StepSpec, inputs: dict[str, dict[str, Any]], *, artifacts_root: str
) -> dict[str, Any]:
    """What the executor is told (`step_invocation`), with where artifacts go; each exchange
    adds where the result goes and, on one machine, where outputs are staged."""
    return {**step_invocation(step, inputs), "artifactsRoot": artifacts_root}


@dataclass(frozen=True)
class FolderExchange:
    """Invocation and result as files in the attempt's folder (see the module docstring)."""

    data: DataDir
    artifacts_root: str

    def write(
        self, attempt: AttemptPath, step: StepSpec, inputs: dict[str, dict[str, Any]]
    ) -> ExecutorCall:
        folder = self._folder(attempt)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "log").unlink(missing_ok=True)
        body = invocation_body(step, inputs, artifacts_root=self.artifacts_root)
        body["resultPath"] = str(folder / "result.json")
        body["outputsDir"] = str(folder / "outputs")
        path = folder / "invocation.json"
        path.write_text(json.dumps(body))
        target = PythonTarget(EXECUTOR.module, EXECUTOR.function, (str(path),))
        return ExecutorCall(folder=folder, python=target)

    def discard_result(self, attempt: AttemptPath) -> None:
        (self._folder(attempt) / "result.json").unlink(missing_ok=True)

    def read_result(self, attempt: AttemptPath) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = json.loads((self._folder(attempt) / "result.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return result

    def _folder(self, attempt: AttemptPath) -> Path:
        return self.data.attempt_dir(attempt.namespace, attempt.run, attempt.step, attempt.attempt)


@dataclass(frozen=True)
class ObjectStoreExchange:
    """Invocation and result as objects in `store` (see the module docstring); artifacts
    under the same store's root."""

    data: DataDir
    store: ObjectStore
    root: str  # the store's URL, `s3://BUCKET[/PREFIX]`, as the pods are told it

    def write(
        self, attempt: AttemptPath, step: StepSpec, inputs: dict[str, dict[str, Any]]
    ) -> ExecutorCall:
        folder = self.data.attempt_dir(
            attempt.namespace, attempt.run, attempt.step, attempt.attempt
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "log").unlink(missing_ok=True)
        prefix = attempt_prefix(attempt)
        root = self.root.rstrip("/")
        body = invocation_body(step, inputs, artifacts_root=root)
        self.store.put_bytes(f"{prefix}/invocation.json", json.dumps(body).encode())
        env = {
            "MLKUBE_INVOCATION_URI": self.store.url(f"{prefix}/invocation.json"),
            "MLKUBE_RESULT_URI": self.store.url(f"{prefix}/result.json"),
            "MLKUBE_ARTIFACT_STORE": root,
        }
        # A pod has none of this machine's folders; /tmp is its writable scratch space.
        return ExecutorCall(folder=folder, command=EXECUTOR_MODULE_COMMAND, env=env, cwd="/tmp")

    def discard_result(self, attempt: AttemptPath) -> None:
        self.store.delete_prefix(f"{attempt_prefix(attempt)}/result.json")

    def read_result(self, attempt: AttemptPath) -> dict[str, Any] | None:
        raw = self.store.get_bytes(f"{attempt_prefix(attempt)}/result.json")
        if raw is None:
            return None
        try:
            result: dict[str, Any] = json.loads(raw)
        except json.JSONDecodeError:
            return None
        return result


def attempt_prefix(attempt: AttemptPath) -> str:
    """`attempts/NS/RUN/UID8/STEP/ATTEMPT`: the run's uid keeps a re-created run of the same
    name from reading its predecessor's results."""
    return "/".join(
        (
            "attempts",
            attempt.namespace,
            attempt.run,
            attempt.run_uid[:8],
            attempt.step,
            str(attempt.attempt),
        )
    )


def step_exchange(
    data: DataDir,
    *,
    artifact_store: str | None,
    in_pods: bool,
    options: Mapping[str, Any] | None = None,
) -> StepExchange:
    """The exchange for a platform: without an object store, the attempt folders under `data`
    (pods must then share that folder); with one, artifacts go there, and so do invocations
    and results when steps run in pods (`in_pods`, the operator) rather than as local
    processes, which still read their invocation from the attempt folder. `options` are
    the store's fsspec storage options (None: from the environment)."""
    if artifact_store is None:
        return FolderExchange(data, str(data.artifacts))
    store = open_object_store(artifact_store, options=options)  # refuses a bad URL now
    if in_pods:
        return ObjectStoreExchange(data, store, artifact_store)
    return FolderExchange(data, artifact_store)
