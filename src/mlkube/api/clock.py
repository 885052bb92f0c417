"""The clock seam: every layer that needs the time takes a `Clock` instead of reading it.

Policies take `now` as an argument; stores and controllers are handed a `Clock`, so tests use
`mlkube.testing.clock.FakeClock` and a restart or a simulation can run on virtual time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock and monotonic time."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""
        ...


class SystemClock:
    """The real clock of this machine."""

    def now(self) -> datetime:
        """The current time in UTC (timezone-aware)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """`time.monotonic()`: immune to wall-clock jumps, for timeouts and intervals."""
        return time.monotonic()
