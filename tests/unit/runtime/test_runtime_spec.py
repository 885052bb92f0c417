"""WorkloadSpec refuses bad input with a sentence naming the field."""

from __future__ import annotations

import pytest

from mlkube.runtime.base import PythonTarget, WorkloadSpec

PY = PythonTarget("m", "f")


def _spec(**fields):
    fields.setdefault("env", {})
    fields.setdefault("cwd", "/w")
    fields.setdefault("log_path", "/w/log")
    return WorkloadSpec(fields.pop("id", "w"), **fields)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"id": "", "python": PY}, "id: must not be empty"),
        ({}, "set exactly one of command, python"),
        ({"python": PY, "command": ("true",)}, "set exactly one of command, python"),
        ({"command": ()}, "command: must not be empty"),
        ({"python": PY, "cwd": ""}, "cwd: must not be empty"),
        ({"python": PY, "log_path": ""}, "log_path: must not be empty"),
        ({"python": PY, "cpus": ()}, "cpus: must not be empty when given"),
        ({"python": PY, "cpus": (1, 1)}, "cpus: duplicates"),
        ({"python": PY, "memory_limit_bytes": -1}, "memory_limit_bytes: must be positive"),
        ({"python": PY, "isolation": "thread"}, "isolation: must be 'fork' or 'process'"),
    ],
)
def test_invalid_spec(fields, problem):
    with pytest.raises(ValueError, match=f"WorkloadSpec '[^']*': {problem}"):
        _spec(**fields)


def test_env_is_copied_and_read_only():
    env = {"A": "1"}
    spec = _spec(python=PY, env=env)
    env["A"] = "2"
    assert spec.env == {"A": "1"}
    with pytest.raises(TypeError):
        spec.env["A"] = "3"  # type: ignore[index]


def test_defaults():
    spec = _spec(python=PY)
    assert (spec.isolation, spec.gpus, spec.preload, spec.cpus, spec.memory_limit_bytes) == (
        "fork",
        (),
        (),
        None,
        None,
    )
