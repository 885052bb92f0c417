"""Where the embedded platform keeps things under its data directory.

<root>/state.db                          the resource store (SQLite, WAL)
<root>/artifacts/sha256/ab/cdef...       content-addressed artifacts
<root>/cache/<key>.json                  step cache entries
<root>/runs/<ns>/<run>/<step>/<attempt>/ one folder per step attempt:
    invocation.json                      what the executor runs (inputs resolved)
    result.json                          what it produced (outputs, or the error)
    log                                  stdout and stderr
    outputs/                             files a command step writes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    """Paths only; creating folders is left to whoever writes there."""

    root: Path

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def run_dir(self, namespace: str, run: str) -> Path:
        return self.root / "runs" / namespace / run

    def attempt_dir(self, namespace: str, run: str, step: str, attempt: int) -> Path:
        return self.run_dir(namespace, run) / step / str(attempt)

    def log_path(self, namespace: str, run: str, step: str, attempt: int) -> Path:
        return self.attempt_dir(namespace, run, step, attempt) / "log"
