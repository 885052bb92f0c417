"""The audit log: one JSON line per API request (who, what, where, and the answer).

Kubernetes' `Metadata` audit level: no bodies, just enough to answer "who touched this, and who
was refused". Appended under a lock with line buffering, so lines from concurrent requests never
interleave and each is on disk as soon as it is written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from mlkube.api.clock import Clock
from mlkube.api.meta import format_time


class AuditLog:
    def __init__(self, path: Path, *, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    def __call__(self, record: dict[str, Any]) -> None:
        """Append `record` with the current time."""
        line = json.dumps({"time": format_time(self.clock.now()), **record})
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()
