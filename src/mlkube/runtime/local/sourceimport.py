"""Import user code given as a module name or a `.py` path, the same way in every process.

The warm worker imports `preload` entries with `import_source` before forking, and the child
calls it again to find the user's function: the second call returns the module already in
`sys.modules`, so the expensive import happens once. A file is imported under a stable
synthetic module name derived from its absolute path, so every process (warm child or fresh
interpreter) names it the same way and pickles by reference agree; it is imported again when
its modification time changes.

Stdlib only and cheap to import: fresh workload interpreters load this module first.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from types import ModuleType

__all__ = ["import_source", "is_source_path", "module_name_for_path"]

_PREFIX = "_mlkube_src_"
_MTIME_KEY = "__mlkube_mtime_ns__"


def is_source_path(ref: str) -> bool:
    """True when `ref` names a file (ends in `.py` or contains a path separator)."""
    return ref.endswith(".py") or os.sep in ref


def module_name_for_path(path: str) -> str:
    """The stable module name for the file at `path` (made absolute first).

    `_mlkube_src_<stem>_<hash of the absolute path>`: readable in tracebacks, a valid
    identifier, and distinct for distinct files that share a stem.
    """
    absolute = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(absolute))[0]
    safe_stem = "".join(c if c.isalnum() else "_" for c in stem) or "file"
    return f"{_PREFIX}{safe_stem}_{_fnv1a64(absolute):016x}"


def import_source(ref: str, *, source: str | None = None) -> ModuleType:
    """Import `ref` (a dotted module name or a `.py` path) and return the module.

    A module name goes through the normal import system (cached in `sys.modules`). A path is
    imported under `module_name_for_path(ref)`, with its directory put at the front of
    `sys.path` so its siblings import; the cached module is reused while the file's mtime is
    unchanged and replaced by a fresh import when it changed. Import errors propagate.

    `source` is the file's text as it was when the step was submitted, for a process that
    cannot see the file (a pod on a cluster): when no file is at `ref`, that text is written
    to a private folder and imported under the SAME module name, so objects pickled by one
    step (by reference to that name) load in the next, wherever each ran.
    """
    if not is_source_path(ref):
        return importlib.import_module(ref)
    path = os.path.abspath(ref)
    if source is not None and not os.path.exists(path):
        return _import_file(_materialized(path, source), name=module_name_for_path(path))
    return _import_file(path)


def _materialized(path: str, source: str) -> str:
    """`source` as a file named like `path` in this process's temporary folder."""
    import tempfile  # only where a shipped source is used

    folder = os.path.join(tempfile.gettempdir(), "mlkube-src", module_name_for_path(path))
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, os.path.basename(path))
    with open(copy, "w", encoding="utf-8") as handle:
        handle.write(source)
    return copy


def _import_file(path: str, *, name: str | None = None) -> ModuleType:
    name = name or module_name_for_path(path)
    mtime_ns = os.stat(path).st_mtime_ns
    cached = sys.modules.get(name)
    if cached is not None and cached.__dict__.get(_MTIME_KEY) == mtime_ns:
        return cached
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    loader = _FreshSourceLoader(name, path)
    spec = importlib.machinery.ModuleSpec(name, loader, origin=path)
    spec.has_location = True
    module = ModuleType(name)
    module.__file__ = path
    module.__loader__ = loader
    module.__spec__ = spec
    module.__dict__[_MTIME_KEY] = mtime_ns
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        if cached is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = cached
        raise
    return module


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source every time and never reads or writes `.pyc` files.

    `.pyc` validity is checked against whole-second mtimes, so a file rewritten within the
    same second (and same size) would come back stale from the cache and defeat the
    mtime-based re-import above. Reporting no stats makes the loader skip the cache.
    """

    def path_stats(self, path: str) -> dict[str, float]:
        raise OSError("mlkube: bytecode cache disabled for source-path imports")


def _fnv1a64(text: str) -> int:
    # A tiny stable hash: `hash()` is salted per process and `hashlib`/`zlib` cost import time
    # in every fresh interpreter.
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value
