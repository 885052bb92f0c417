"""`FakeClock` and `SystemClock` honour the `Clock` contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlkube.api.clock import Clock, SystemClock
from mlkube.testing.clock import FakeClock


def test_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock(datetime(2026, 11, 28, 15, 40, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 11, 28, 15, 40, tzinfo=UTC)
    start = clock.monotonic()
    clock.advance(90.5)
    assert clock.now() == datetime(2026, 11, 28, 15, 41, 30, 500000, tzinfo=UTC)
    assert clock.monotonic() - start == 90.5


def test_fake_clock_reports_utc_even_from_another_zone() -> None:
    clock = FakeClock(datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_naive_starts_and_rewinds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="backwards"):
        FakeClock().advance(-1)


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [FakeClock(), SystemClock()]
    for clock in clocks:
        assert clock.now().utcoffset() == timedelta(0)
        assert isinstance(clock.monotonic(), float)
