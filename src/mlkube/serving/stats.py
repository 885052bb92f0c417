"""Per-service request statistics for the autoscaler, with the window math kept pure.

Every method takes the time as an argument (the router passes its monotonic clock), so the
math is tested with explicit times and no sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConcurrencyWindow", "ServiceStats", "WindowReading"]


@dataclass(frozen=True, slots=True)
class WindowReading:
    """What one scrape saw: averages over ``elapsed`` seconds ending at the scrape."""

    concurrency: float  # time-weighted mean of the level over the window
    rps: float  # completions in the window / elapsed
    elapsed: float


class ConcurrencyWindow:
    """Integrates a step function (the number of requests in the router) between scrapes.

    ``change(now, delta)`` moves the level at time ``now``; ``scrape(now)`` returns the integral
    of the level since the previous scrape divided by the elapsed time, and starts a new window.
    Times must not go backwards. A zero-length window reports the current level.
    """

    __slots__ = ("_area", "_completed", "_last", "_start", "level")

    def __init__(self, now: float) -> None:
        self.level = 0
        self._area = 0.0
        self._start = now
        self._last = now
        self._completed = 0

    def change(self, now: float, delta: int) -> None:
        """The level moves by ``delta`` at ``now``; a negative delta counts completions."""
        self._area += self.level * (now - self._last)
        self._last = now
        self.level += delta
        if delta < 0:
            self._completed -= delta

    def scrape(self, now: float) -> WindowReading:
        """Close the window at ``now`` and open the next one."""
        area = self._area + self.level * (now - self._last)
        elapsed = now - self._start
        if elapsed > 0:
            reading = WindowReading(area / elapsed, self._completed / elapsed, elapsed)
        else:
            reading = WindowReading(float(self.level), 0.0, 0.0)
        self._area = 0.0
        self._start = self._last = now
        self._completed = 0
        return reading


class ServiceStats:
    """Counters for one service: requests in flight, held by the activator, and completed."""

    __slots__ = ("held", "in_flight", "requests_total", "revision_totals", "window")

    def __init__(self, now: float) -> None:
        self.in_flight = 0
        self.held = 0
        self.requests_total = 0
        self.revision_totals: dict[str, int] = {}
        self.window = ConcurrencyWindow(now)

    def started(self, now: float) -> None:
        """A request for this service arrived."""
        self.in_flight += 1
        self.window.change(now, 1)

    def finished(self, now: float, revision: str | None) -> None:
        """A request ended (any outcome); ``revision`` is the one that served it, if any."""
        self.in_flight -= 1
        self.requests_total += 1
        if revision is not None:
            totals = self.revision_totals
            totals[revision] = totals.get(revision, 0) + 1
        self.window.change(now, -1)

    def hold(self) -> None:
        """The request waits for a replica: it moves from in-flight to held."""
        self.in_flight -= 1
        self.held += 1

    def release(self) -> None:
        """A held request goes on (or gives up): it moves back to in-flight."""
        self.held -= 1
        self.in_flight += 1
