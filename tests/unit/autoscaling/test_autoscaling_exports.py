"""Public names are listed in `__all__`, resolve, and the package re-exports every module's."""

import importlib
import inspect

import pytest

import mlkube.autoscaling

MODULES = ["mlkube.autoscaling.replicas", "mlkube.autoscaling.rightsizing"]


@pytest.mark.parametrize("name", MODULES)
def test_module_names_resolve_and_are_exported_by_the_package(name: str) -> None:
    module = importlib.import_module(name)
    for public in module.__all__:
        assert getattr(module, public) is getattr(mlkube.autoscaling, public)
    assert set(module.__all__) <= set(mlkube.autoscaling.__all__)


def test_package_exports_nothing_else() -> None:
    exported = set().union(*(importlib.import_module(m).__all__ for m in MODULES))
    assert set(mlkube.autoscaling.__all__) == exported


def test_public_modules_list_every_public_name() -> None:
    for name in MODULES:
        module = importlib.import_module(name)
        defined = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and not inspect.ismodule(v)
            and getattr(v, "__module__", name) == name
        }
        assert defined - {"annotations"} <= set(module.__all__)
