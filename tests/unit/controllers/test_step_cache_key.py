"""The step cache's key follows the code: the file on this machine, or the text the step
carries when the file is not here (an operator never sees the submitter's file)."""

from __future__ import annotations

from pathlib import Path

from mlkube.api.pipeline import StepSpec
from mlkube.controllers.pipelinerun.launch import step_cache_key


def python_step(module: str, source: str | None = None) -> StepSpec:
    python = {"module": module, "function": "train", "source": source}
    return StepSpec.model_validate({"name": "train", "python": python})


def test_a_shipped_source_keys_the_cache_where_the_file_is_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "laptop" / "train.py")
    first = step_cache_key(python_step(missing, "def train():\n    return 1\n"), {})
    changed = step_cache_key(python_step(missing, "def train():\n    return 2\n"), {})
    assert first != changed


def test_the_file_keys_the_cache_when_nothing_is_shipped(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text("def train():\n    return 1\n")
    before = step_cache_key(python_step(str(path)), {})
    path.write_text("def train():\n    return 2\n")
    assert step_cache_key(python_step(str(path)), {}) != before
