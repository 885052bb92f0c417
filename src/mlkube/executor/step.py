"""Entry point of a step process: `run(invocation_path)` returns the exit code.

The controller writes `invocation.json` (the code to call and its resolved inputs) into the
attempt's folder and launches `mlkube.executor.step:run` there; on a cluster,
`python -m mlkube.executor` passes the same invocation to `run_invocation` (see
`mlkube.executor.__main__`). We write the result (outputs, or the error) atomically to
`resultPath`, a path or a URI (`s3://...`), so the controller can trust it even after a crash.

The invocation's keys: `inputs` (name -> `{"value": V}` or `{"artifact": {"uri", ...}}`),
`outputs` (names), `python` (`{"module", "function"}`) or `command` (+ `args`),
`artifactsRoot` (a path, `file://` or `s3://` URL: see `open_artifact_store`), `resultPath`,
and for a command `outputsDir` (optional: a fresh temporary folder, removed afterwards, when
absent, so two steps on one machine never share one).

A fresh-process step pays for every import made here, so this module imports only `json`, `os`
and `sys` up front; the artifact store, the command runner and `traceback` are imported on first
use (a trivial step then starts in about the time of `python -c pass` plus `json`).
"""

from __future__ import annotations

import json
import os
import sys

from mlkube.executor.values import decode_input, encode_output
from mlkube.runtime.local.sourceimport import import_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mlkube.storage.artifacts import ArtifactStore


class StepError(Exception):
    """A step broke its contract (e.g. returned the wrong number of outputs)."""


class LazyArtifacts:
    """The artifact store, opened on first use: steps passing small values never need it."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._store: ArtifactStore | None = None

    def __call__(self) -> ArtifactStore:
        if self._store is None:
            from mlkube.storage.artifacts import open_artifact_store

            self._store = open_artifact_store(self.root)
        return self._store


def run(invocation_path: str) -> int:
    """Execute one step attempt; 0 on success, 1 on failure (details in result.json + log)."""
    with open(invocation_path) as handle:
        invocation = json.load(handle)
    return run_invocation(invocation)


def run_invocation(invocation: dict[str, Any]) -> int:
    """Execute the step `invocation` describes (keys: see the module docstring).

    Returns 0 when it succeeded and its outputs are stored; else the command's exit code, or 1
    for an exception in the step or in storing its outputs. Either way the result (outputs,
    or `{"error": {"type", "message"}}`) is written to `resultPath` before returning.
    """
    result_path = invocation["resultPath"]
    artifacts = LazyArtifacts(invocation["artifactsRoot"])
    try:
        if invocation.get("python"):
            outputs = _run_python(invocation, artifacts)
        else:
            from mlkube.executor.command import run_command

            code, outputs = run_command(invocation, artifacts)
            if code != 0:
                _write(result_path, {"error": {"type": "ExitCode", "message": f"exit code {code}"}})
                return code
    except MemoryError:
        raise  # the runtime reports this as OOMKilled
    except BaseException as err:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        _write(result_path, {"error": {"type": type(err).__name__, "message": str(err)[:2000]}})
        return 1
    _write(result_path, {"outputs": outputs})
    return 0


def _run_python(invocation: dict[str, Any], artifacts: LazyArtifacts) -> list[dict[str, Any]]:
    python = invocation["python"]
    module = import_source(python["module"], source=python.get("source"))
    target: Any = module
    for part in python["function"].split("."):
        target = getattr(target, part)
    func = getattr(target, "__mlkube_fn__", target)
    kwargs = {name: decode_input(src, artifacts) for name, src in invocation["inputs"].items()}
    returned = func(**kwargs)
    names: list[str] = invocation["outputs"]
    values = split_outputs(returned, names)
    return [encode_output(n, values[n], artifacts) for n in names]


def split_outputs(returned: Any, names: list[str]) -> dict[str, Any]:
    """Map a function's return value onto its declared outputs.

    One output takes the value as is. Several take a dict with those keys, or a tuple (also a
    NamedTuple) in declaration order.
    """
    if len(names) == 1:
        return {names[0]: returned}
    if not names:
        return {}
    if isinstance(returned, dict) and set(returned) == set(names):
        return dict(returned)
    if isinstance(returned, tuple | list) and len(returned) == len(names):
        return dict(zip(names, returned, strict=True))
    raise StepError(
        f"step declares outputs {', '.join(names)} and must return a tuple of {len(names)} "
        f"values or a dict with those keys; it returned {type(returned).__name__}"
    )


def _write(path: str, body: dict[str, Any]) -> None:
    """Write JSON atomically: a temporary name in the same folder, then a rename (a local
    path), or one PUT (a URI: the object store's module is only imported for those)."""
    if "://" in path:
        from mlkube.storage.objectstore import write_uri

        write_uri(path, json.dumps(body).encode())
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(body, handle)
    os.replace(tmp, path)
