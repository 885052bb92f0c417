"""Command steps: inputs as `{{inputs.NAME}}` placeholders and `MLKUBE_INPUT_NAME` variables,
outputs as files the command writes to `$MLKUBE_OUTPUTS_DIR/NAME`.

An output file that holds small JSON (`0.93`, `{"acc": 1}`) becomes an inline value, so command
and Python steps exchange numbers and small records naturally; anything else is a file artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlkube.api.volumes import volume_placeholders
from mlkube.executor.values import INLINE_LIMIT
from mlkube.storage.artifacts import ArtifactStore

Artifacts = Callable[[], ArtifactStore]


def _as_text(source: dict[str, Any], artifacts: Artifacts) -> str:
    artifact = source.get("artifact")
    if artifact is not None:
        return str(artifacts().local_path(artifact["uri"]))
    value = source.get("value")
    return value if isinstance(value, str) else json.dumps(value)


def run_command(
    invocation: dict[str, Any], artifacts: Artifacts
) -> tuple[int, list[dict[str, Any]]]:
    """Run the command to completion; on exit 0 collect the declared outputs it wrote.

    Outputs go to `invocation["outputsDir"]`, or when absent to a fresh temporary folder that
    is removed once they are stored."""
    with _outputs_folder(invocation.get("outputsDir")) as outputs_dir:
        return _run_in(invocation, artifacts, outputs_dir)


@contextmanager
def _outputs_folder(given: str | None) -> Iterator[Path]:
    if given is not None:
        Path(given).mkdir(parents=True, exist_ok=True)
        yield Path(given)
        return
    folder = tempfile.mkdtemp(prefix="mlkube-outputs-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_in(
    invocation: dict[str, Any], artifacts: Artifacts, outputs_dir: Path
) -> tuple[int, list[dict[str, Any]]]:
    texts = {name: _as_text(src, artifacts) for name, src in invocation["inputs"].items()}
    subs = {f"{{{{inputs.{k}}}}}": v for k, v in texts.items()}
    subs.update({f"{{{{outputs.{n}}}}}": str(outputs_dir / n) for n in invocation["outputs"]})
    subs.update(volume_placeholders(os.environ))  # {{volumes.NAME}}, where this process sees it
    argv = [_substitute(a, subs) for a in [*invocation["command"], *invocation.get("args", [])]]
    env = dict(os.environ, MLKUBE_OUTPUTS_DIR=str(outputs_dir))
    env.update({f"MLKUBE_INPUT_{k.upper()}": v for k, v in texts.items()})
    code = subprocess.call(argv, env=env)
    if code != 0:
        return code, []
    return 0, collect_outputs(outputs_dir, invocation["outputs"], artifacts())


def _substitute(arg: str, subs: dict[str, str]) -> str:
    for placeholder, text in subs.items():
        arg = arg.replace(placeholder, text)
    return arg


def collect_outputs(
    outputs_dir: Path, names: list[str], store: ArtifactStore
) -> list[dict[str, Any]]:
    """Declared outputs the command wrote; missing files are simply not produced."""
    collected = []
    for name in names:
        path = outputs_dir / name
        if not path.is_file():
            continue
        if path.stat().st_size <= INLINE_LIMIT:
            try:
                collected.append({"name": name, "value": json.loads(path.read_bytes())})
                continue
            except (ValueError, UnicodeDecodeError):
                pass
        collected.append({"name": name, "artifact": store.put_file(path).to_dict()})
    return collected
