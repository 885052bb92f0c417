"""The exit-code rules for Python targets (run in-process on a module from tmp_path)."""

from __future__ import annotations

import sys

import pytest

from mlkube.runtime.local.target import MEMORY_ERROR_EXIT_CODE, run_target

TARGETS = """
import sys

RESULTS = {"none": None, "zero": 0, "three": 3, "big": 256, "neg": -1, "true": True, "text": "x"}

def returns(value):
    return RESULTS[value]

def exits(value):
    sys.exit({"none": None, "four": 4, "text": "bye now"}[value])

def raises():
    raise KeyError("missing thing")

def out_of_memory():
    raise MemoryError

def args(*values):
    return len(values)
"""


@pytest.fixture
def module(tmp_path):
    path = tmp_path / "targets_for_units.py"
    path.write_text(TARGETS)
    modules, syspath = set(sys.modules), list(sys.path)
    yield str(path)
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = syspath


@pytest.mark.parametrize(
    ("value", "code"),
    [("none", 0), ("zero", 0), ("three", 3), ("big", 1), ("neg", 1), ("true", 1), ("text", 0)],
)
def test_return_value(module, value, code):
    assert run_target(module, "returns", [value]) == code


@pytest.mark.parametrize(("value", "code"), [("none", 0), ("four", 4), ("text", 1)])
def test_system_exit(module, value, code, capsys):
    assert run_target(module, "exits", [value]) == code
    if value == "text":
        assert "bye now" in capsys.readouterr().err


def test_uncaught_exception_prints_traceback(module, capsys):
    assert run_target(module, "raises", []) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'missing thing'" in err


def test_memory_error_has_its_own_code(module, capsys):
    assert run_target(module, "out_of_memory", []) == MEMORY_ERROR_EXIT_CODE
    assert "MemoryError" in capsys.readouterr().err


def test_missing_function_is_an_error(module, capsys):
    assert run_target(module, "nope", []) == 1
    assert "has no attribute 'nope'" in capsys.readouterr().err


def test_args_are_passed(module):
    assert run_target(module, "args", ["a", "b", "c"]) == 3
