"""Public names are listed in `__all__` and resolve (some lazily, to keep fresh starts cheap)."""

from __future__ import annotations

import importlib

import pytest

import mlkube.runtime
import mlkube.runtime.local


@pytest.mark.parametrize("package", [mlkube.runtime, mlkube.runtime.local])
def test_all_names_resolve(package):
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_the_package_exports_exactly_the_seam():
    # The list is written twice (the package cannot import `base` eagerly): keep them equal.
    assert mlkube.runtime.__all__ == importlib.import_module("mlkube.runtime.base").__all__


def test_lazy_names_are_the_real_objects():
    assert (
        mlkube.runtime.WorkloadSpec is importlib.import_module("mlkube.runtime.base").WorkloadSpec
    )
    runtime_module = importlib.import_module("mlkube.runtime.local.runtime")
    assert mlkube.runtime.local.LocalRuntime is runtime_module.LocalRuntime


def test_unknown_name():
    with pytest.raises(AttributeError):
        _ = mlkube.runtime.local.Nope  # type: ignore[attr-defined]
