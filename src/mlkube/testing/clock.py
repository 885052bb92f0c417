"""A clock that moves only when a test says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A `mlkube.api.clock.Clock` whose time advances only through `advance`.

    Wall-clock and monotonic time move together, so code that mixes them sees one consistent
    timeline. Thread-safe.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        """Start at `start`, which must be timezone-aware (it is converted to UTC).

        Raises `ValueError` for a naive datetime, which would silently mean local time.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"FakeClock needs a timezone-aware start, got {start!r}")
        self._lock = threading.Lock()
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0

    def now(self) -> datetime:
        """The fake current time in UTC (timezone-aware)."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Seconds advanced since this clock was made."""
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`; raises `ValueError` if negative (time never rewinds)."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds
