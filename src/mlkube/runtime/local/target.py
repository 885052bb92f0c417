"""Run a Python target and turn its outcome into an exit code; the same rules in every mode.

- the function's return value: None -> 0, an int in 0..255 -> itself, any other int -> 1,
  anything else -> 0 (a return value that is not an exit code means "done");
- `SystemExit` follows `sys.exit`: None -> 0, an int as above, anything else is printed -> 1;
- `MemoryError` prints its traceback and exits `MEMORY_ERROR_EXIT_CODE`, which the runtime
  reports as `OOMKilled` (the rlimit fallback makes an over-limit allocation raise rather
  than be killed);
- any other uncaught exception prints its traceback (through `sys.excepthook`) and exits 1.

Stdlib only and cheap to import: fresh workload interpreters load this module first.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mlkube.runtime.local.sourceimport import import_source

__all__ = ["MEMORY_ERROR_EXIT_CODE", "run_target"]

MEMORY_ERROR_EXIT_CODE = 251
"""Exit code of a Python target that died of `MemoryError`; reported as `OOMKilled`."""


def run_target(module: str, function: str, args: Sequence[str]) -> int:
    """Import `module` (name or `.py` path), call `function(*args)`, return the exit code."""
    try:
        result = getattr(import_source(module), function)(*args)
    except SystemExit as exc:
        return _system_exit_code(exc.code)
    except MemoryError:
        _print_exception()
        return MEMORY_ERROR_EXIT_CODE
    except BaseException:
        _print_exception()
        return 1
    if result is None or not isinstance(result, int):
        return 0
    return _exit_code(result)


def _exit_code(value: int) -> int:
    return value if 0 <= value <= 255 else 1


def _system_exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return _exit_code(code)
    print(code, file=sys.stderr)
    return 1


def _print_exception() -> None:
    # sys.excepthook prints like an uncaught exception would, without importing `traceback`.
    try:  # noqa: SIM105 - contextlib would cost every fresh interpreter an import
        sys.excepthook(*sys.exc_info())
    except BaseException:
        # Printing itself can fail (out of memory, closed log); the exit code still tells.
        pass
