"""An in-memory `AccountingLog` for controller tests."""

from __future__ import annotations

import threading

from mlkube.store.accounting import AccountingLog, UsageRecord


class MemoryAccountingLog:
    """Keeps records in a list; the same attempt appended twice is kept once."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str, int, float], UsageRecord] = {}
        self._lock = threading.Lock()

    def append(self, record: UsageRecord) -> None:
        key = (record.run_uid, record.step, record.attempt, record.start)
        with self._lock:
            self._records.setdefault(key, record)

    def records(self, namespace: str | None = None) -> list[UsageRecord]:
        with self._lock:
            kept = [r for r in self._records.values() if namespace in (None, r.namespace)]
        return sorted(kept, key=lambda r: (r.end, r.run_uid, r.step, r.attempt))

    def durations(self, namespace: str, pipeline: str, step: str, *, limit: int) -> list[float]:
        same = [
            r
            for r in self.records(namespace)
            if r.pipeline == pipeline and r.step == step and r.outcome == "Succeeded"
        ]
        return [r.end - r.start for r in reversed(same)][:limit]

    def close(self) -> None:
        pass


def _satisfies_protocol(log: MemoryAccountingLog) -> AccountingLog:
    return log
