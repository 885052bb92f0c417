"""The autoscaler's window math with explicit times (pure, no sleeps)."""

from __future__ import annotations

import pytest

from mlkube.serving.stats import ConcurrencyWindow, ServiceStats, WindowReading


def test_integral_of_a_step_function_over_the_window() -> None:
    w = ConcurrencyWindow(now=100.0)
    w.change(100.0, +1)  # 1 request for the first second
    w.change(101.0, +1)  # 2 requests for half a second
    w.change(101.5, -2)  # none after that
    reading = w.scrape(102.0)
    # area = 1*1 + 2*0.5 + 0 * 0.5 = 2 over 2 s; 2 completions over 2 s
    assert reading == WindowReading(concurrency=1.0, rps=1.0, elapsed=2.0)


def test_level_carries_into_the_next_window() -> None:
    w = ConcurrencyWindow(now=0.0)
    w.change(0.5, +3)
    assert w.scrape(1.0).concurrency == pytest.approx(1.5)
    reading = w.scrape(3.0)  # 3 requests in flight the whole window, none completed
    assert reading == WindowReading(concurrency=3.0, rps=0.0, elapsed=2.0)
    w.change(3.5, -1)
    assert w.scrape(4.0) == WindowReading(concurrency=2.5, rps=1.0, elapsed=1.0)


def test_zero_length_window_reports_the_current_level() -> None:
    w = ConcurrencyWindow(now=5.0)
    w.change(5.0, +2)
    assert w.scrape(5.0) == WindowReading(concurrency=2.0, rps=0.0, elapsed=0.0)


def test_many_short_requests_average_correctly() -> None:
    w = ConcurrencyWindow(now=0.0)
    for i in range(100):  # 100 requests of 5 ms each, one every 10 ms: concurrency 0.5
        w.change(i * 0.01, +1)
        w.change(i * 0.01 + 0.005, -1)
    reading = w.scrape(1.0)
    assert reading.concurrency == pytest.approx(0.5)
    assert reading.rps == pytest.approx(100.0)


def test_service_stats_moves_requests_between_in_flight_and_held() -> None:
    s = ServiceStats(now=0.0)
    s.started(0.0)
    s.started(0.0)
    s.hold()
    assert (s.in_flight, s.held) == (1, 1)
    s.release()
    s.finished(1.0, "r1")
    s.finished(2.0, None)
    assert (s.in_flight, s.held, s.requests_total) == (0, 0, 2)
    assert s.revision_totals == {"r1": 1}
    assert s.window.scrape(2.0) == WindowReading(concurrency=1.5, rps=1.0, elapsed=2.0)
