"""mlkube.runtime.local: workloads as processes on this machine.

`LocalRuntime` is loaded on first use: this package also holds `entry`, the first module of
every fresh workload interpreter, which must stay cheap to import (stdlib only).
"""

from __future__ import annotations

import importlib

# Not `typing.TYPE_CHECKING`: importing `typing` costs a fresh interpreter ~6 ms. Type
# checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mlkube.runtime.local.runtime import LocalRuntime
    from mlkube.runtime.local.sourceimport import import_source

__all__ = ["LocalRuntime", "import_source"]

_WHERE = {
    "LocalRuntime": "mlkube.runtime.local.runtime",
    "import_source": "mlkube.runtime.local.sourceimport",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
