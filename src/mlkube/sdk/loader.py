"""Load pipelines from a Python file, the way `mlkube run FILE.py` does."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from types import ModuleType

from mlkube.sdk.dsl import DslError, Pipeline


def load_file(path: str) -> ModuleType:
    """Import a `.py` file under a private module name (its folder goes on `sys.path` so its
    sibling imports work); errors name the file."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise DslError(f"no such file: {path}")
    name = "_mlkube_src_" + hashlib.sha1(full.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise DslError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def find_pipeline(module: ModuleType, name: str | None = None) -> Pipeline:
    """The module's `@pipeline` named `name`, or its only one."""
    found = {p.name: p for p in vars(module).values() if isinstance(p, Pipeline)}
    if name is not None:
        if name not in found:
            raise DslError(f"no pipeline named {name!r} (found: {', '.join(found) or 'none'})")
        return found[name]
    if len(found) != 1:
        listed = ", ".join(sorted(found)) or "none"
        raise DslError(f"expected one @pipeline, found {listed}; choose one with --pipeline")
    return next(iter(found.values()))
