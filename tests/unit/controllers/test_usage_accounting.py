"""Usage records, fair-share history and start estimates in the controller (fake runtime and
clock, in-memory store and accounting log)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.meta import parse_time
from mlkube.testing.accounting import MemoryAccountingLog
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_quotas import flavor, namespace, queue, submit

CPU = {"resources": {"cpu": "2"}}
QUEUES = "clusterqueues.mlkube.io"


def test_each_ended_attempt_is_recorded_once(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    retry = {"retries": {"limit": 1, "backoffSeconds": 1}}
    bench.submit([py("a", **CPU), py("b", **CPU, **retry)], cache=False)
    bench.clock.advance(60)
    [a] = bench.running("a")
    [b] = bench.running("b")
    bench.complete(a)
    bench.fail(b)
    bench.advance(2)  # the retry is due
    [b2] = bench.running("b")
    bench.clock.advance(30)
    bench.complete(b2)
    records = log.records()
    assert [(r.step, r.attempt, r.outcome) for r in records] == [
        ("a", 1, "Succeeded"),
        ("b", 1, "Failed"),
        ("b", 2, "Succeeded"),
    ]
    first = records[0]
    assert (first.namespace, first.run, first.cpu_millis, first.gpus) == ("default", "r1", 2000, 0)
    assert first.end - first.start == 60
    assert records[2].end - records[2].start == 30
    assert first.pipeline.startswith("inline:")
    assert {r.pipeline for r in records} == {first.pipeline}


def test_a_run_deleted_while_running_is_charged_until_stopped(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    bench.submit([py("a", **CPU)], cache=False)
    bench.clock.advance(45)
    bench.store.delete("pipelineruns.mlkube.io", "default", "r1")
    bench.settle()  # the fake runtime ends a stopped workload at once
    assert bench.running() == []
    [record] = log.records()
    assert (record.step, record.outcome, record.end - record.start) == ("a", "Stopped", 45)


def cohort(bench: Bench) -> None:
    for name in ("team-a", "team-b", "team-c"):
        namespace(bench, name)
        never = {"reclaimWithinCohort": "Never"}
        cpu = "1" if name == "team-c" else "2"
        bench.store.create(
            QUEUES,
            queue(name, [name], [flavor("default", cpu=cpu)], cohort="c", preemption=never),
        )


def fair_status(bench: Bench, name: str) -> dict[str, Any]:
    status: dict[str, Any] = bench.store.get(QUEUES, "", name)["status"]["fairSharing"]
    return status


def test_the_queue_that_used_more_lately_waits(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    cohort(bench)
    big = {"resources": {"cpu": "4"}}  # the whole cohort: 2 nominal + 2 borrowed
    submit(bench, "team-a", "night", [py("train", **big)])
    bench.clock.advance(3600)
    bench.complete(bench.running("train")[0])
    submit(bench, "team-c", "blocker", [py("hold", **big)])
    submit(bench, "team-a", "a-more", [py("x", **big)])  # older than b's
    submit(bench, "team-b", "b-first", [py("y", **big)])
    bench.complete(bench.running("hold")[0])
    assert bench.phases("b-first", namespace="team-b") == {"y": "Running"}
    assert bench.phases("a-more", namespace="team-a") == {"x": "Waiting"}
    bench.advance(1)  # queue statuses trail by the status interval
    a = fair_status(bench, "team-a")
    assert a["consumedResourceSeconds"]["default"]["cpu"] > 4 * 3600 * 0.7  # decayed a little
    assert a["weightedShare"] > fair_status(bench, "team-b")["weightedShare"] - 1.0


def test_history_outlives_a_restart(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    cohort(bench)
    big = {"resources": {"cpu": "4"}}
    submit(bench, "team-a", "night", [py("train", **big)])
    bench.clock.advance(3600)
    bench.complete(bench.running("train")[0])
    bench.advance(1)
    stored = fair_status(bench, "team-a")
    assert parse_time(stored["lastUpdate"]) <= bench.clock.now()
    # A new controller process over the same store: the history is read back.
    again = Bench(tmp_path, store=bench.store, clock=bench.clock)
    book = again.manager.runs.queue.fair_usage
    assert book is not None
    now = bench.clock.now().timestamp()
    cpu = book.history("team-a", now=now).amounts[("default", "cpu")]
    # Read back, then decayed over the second or two since it was written.
    assert cpu / 1000 == pytest.approx(stored["consumedResourceSeconds"]["default"]["cpu"], 1e-3)
    assert book.shares(again.manager.runs.queue_config().quotas, now=now)["team-a"] > 0
    submit(again, "team-c", "blocker", [py("hold", **big)])
    submit(again, "team-a", "a-more", [py("x", **big)])
    submit(again, "team-b", "b-first", [py("y", **big)])
    again.complete(again.running("hold")[0])
    assert again.phases("b-first", namespace="team-b") == {"y": "Running"}


def test_without_a_half_life_the_older_run_goes_first(tmp_path: Path) -> None:
    bench = Bench(tmp_path, usage_half_life=0)
    cohort(bench)
    big = {"resources": {"cpu": "4"}}
    submit(bench, "team-a", "night", [py("train", **big)])
    bench.clock.advance(3600)
    bench.complete(bench.running("train")[0])
    submit(bench, "team-c", "blocker", [py("hold", **big)])
    submit(bench, "team-a", "a-more", [py("x", **big)])
    submit(bench, "team-b", "b-first", [py("y", **big)])
    bench.complete(bench.running("hold")[0])
    assert bench.phases("a-more", namespace="team-a") == {"x": "Running"}


def estimate(bench: Bench, step: str, run: str = "r1") -> dict[str, Any]:
    found: dict[str, Any] = bench.step(step, run)["estimatedStart"]
    return found


def test_a_waiting_step_gets_a_start_estimate(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    whole = {"resources": {"cpu": "4"}}
    bench.submit([py("a", timeoutSeconds=600, **whole)], cache=False)
    started = parse_time(bench.step("a")["startTime"])
    bench.clock.advance(10)
    bench.submit([py("b", **whole)], name="r2", cache=False)
    got = estimate(bench, "b", "r2")
    assert parse_time(got["time"]) == started + _seconds(600)
    assert got["after"] == "r1/a"
    bench.complete(bench.running("a")[0])
    assert bench.phases("r2") == {"b": "Running"}
    assert "estimatedStart" not in bench.step("b", "r2")


def test_the_estimate_learns_from_earlier_runs_of_the_step(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    whole = {"resources": {"cpu": "4"}}
    steps = [py("a", **whole)]
    bench.submit(steps, name="first", cache=False)
    bench.clock.advance(120)
    bench.complete(bench.running("a")[0])
    # Nothing known about `a` but its earlier run: it should take 120 s again.
    bench.submit(steps, name="second", cache=False)
    started = parse_time(bench.step("a", "second")["startTime"])
    bench.submit([py("b", **whole)], name="third", cache=False)
    got = estimate(bench, "b", "third")
    assert parse_time(got["time"]) == started + _seconds(120)
    assert got["after"] == "second/a"


def test_an_unknown_end_is_said_to_be_unknown(tmp_path: Path) -> None:
    bench = Bench(tmp_path, accounting=MemoryAccountingLog())
    whole = {"resources": {"cpu": "4"}}
    bench.submit([py("a", **whole)], cache=False)
    bench.submit([py("b", **whole)], name="r2", cache=False)
    got = estimate(bench, "b", "r2")
    assert "time" not in got
    assert got["reason"].startswith("waits for r1/a, whose end cannot be estimated")


def _seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
