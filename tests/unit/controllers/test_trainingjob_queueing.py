"""TrainingJobs and the rest of the platform: preemption, queue counts, usage, estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlkube.api.meta import CREATED_BY, parse_time
from mlkube.testing.accounting import MemoryAccountingLog
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_quotas import flavor, queue, submit
from tests.unit.controllers.test_trainingjob import (
    JOBS,
    condition,
    job,
    status,
    submit_job,
    workers_running,
)

CQ = "clusterqueues.mlkube.io"


def priority_class(bench: Bench, name: str, value: int) -> None:
    bench.store.create(
        "priorityclasses.scheduling.k8s.io",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
        },
    )


def team_queue(bench: Bench, cpu: str) -> None:
    bench.store.create(CQ, queue("team", ["default"], [flavor("default", cpu=cpu)]))
    bench.settle()


def queue_counts(bench: Bench) -> tuple[int, int]:
    st = bench.store.get(CQ, "", "team").get("status") or {}
    return st.get("admittedWorkloads", 0), st.get("pendingWorkloads", 0)


def finish_all(bench: Bench, ids: list[str]) -> None:
    for wid in ids:
        bench.runtime.finish(wid, 0)
    bench.settle()


def test_a_higher_priority_step_preempts_the_whole_gang_which_runs_again_later(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path)
    priority_class(bench, "urgent", 1000)
    team_queue(bench, cpu="2")
    submit_job(bench, workers=2)
    first = workers_running(bench)
    assert len(first) == 2
    submit(
        bench, "default", "hotfix", [py("fast", resources={"cpu": "1"})], priorityClassName="urgent"
    )
    # Both workers were asked to stop (SIGTERM with the grace period), not only one.
    grace = bench.manager.runs.stop_grace_seconds
    assert {(wid, grace) for wid in first} <= set(bench.runtime.stops)
    assert workers_running(bench) == []
    assert bench.phases("hotfix") == {"fast": "Running"}
    st = status(bench)
    assert (st["phase"], st["restarts"], st["starts"]) == ("Pending", 0, 1)
    assert [w["phase"] for w in st["workers"]] == ["Preempted", "Preempted"]
    assert condition(bench, "Admitted")["reason"] in ("Preempted", "Waiting")
    assert condition(bench, "Running")["reason"] == "Preempted"
    assert st["waitReason"].startswith("quota: ")
    (fast,) = bench.running("fast")
    bench.complete(fast)
    second = workers_running(bench)
    assert [w.rsplit("/", 1)[1] for w in second] == ["2", "2"]
    finish_all(bench, second)
    st = status(bench)
    assert (st["phase"], st["restarts"], st["starts"]) == ("Succeeded", 0, 2)


def test_a_higher_priority_job_preempts_a_running_gang(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    priority_class(bench, "urgent", 1000)
    team_queue(bench, cpu="2")
    submit_job(bench, "low", workers=2)
    bench.clock.advance(1)
    submit_job(bench, "high", workers=2, priorityClassName="urgent")
    assert status(bench, "low")["phase"] == "Pending"
    assert status(bench, "high")["phase"] == "Running"
    finish_all(bench, workers_running(bench))
    assert status(bench, "high")["phase"] == "Succeeded"
    assert status(bench, "low")["phase"] == "Running"
    assert status(bench, "low")["restarts"] == 0


def test_a_cluster_queue_counts_a_gang_as_one_workload(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    team_queue(bench, cpu="2")
    submit_job(bench, "a", workers=2)
    bench.clock.advance(1)
    submit_job(bench, "b", workers=2)
    bench.advance(1)  # queue status trails allocations by up to half a second
    assert queue_counts(bench) == (1, 1)
    finish_all(bench, workers_running(bench))
    bench.advance(1)
    assert queue_counts(bench) == (1, 0)
    finish_all(bench, workers_running(bench))
    bench.advance(1)
    assert queue_counts(bench) == (0, 0)


def test_each_worker_attempt_is_charged_to_the_jobs_namespace_and_creator(
    tmp_path: Path,
) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    submit_job(bench, workers=2, runPolicy={"backoffLimit": 1})
    meta = job(bench)["metadata"]
    meta.setdefault("annotations", {})[CREATED_BY] = "alice"
    bench.store.update(JOBS, job(bench) | {"metadata": meta})
    bench.settle()
    first = workers_running(bench)
    bench.clock.advance(60)
    bench.runtime.finish(first[1], 1, message="exit code 1")
    bench.settle()
    second = workers_running(bench)
    bench.clock.advance(30)
    finish_all(bench, second)
    rows = sorted((r.step, r.attempt, r.outcome, r.end - r.start) for r in log.records())
    assert rows == [
        ("worker-0", 1, "Stopped", 60.0),
        ("worker-0", 2, "Succeeded", 30.0),
        ("worker-1", 1, "Failed", 60.0),
        ("worker-1", 2, "Succeeded", 30.0),
    ]
    record = log.records()[0]
    assert (record.namespace, record.user, record.run) == ("default", "alice", "tj")
    assert (record.pipeline, record.run_uid) == ("trainingjob:tj", meta["uid"])
    assert {r.cpu_millis for r in log.records()} == {1000}
    bench.store.delete(JOBS, "default", "tj")
    bench.settle()
    assert len(log.records("default")) == 4  # kept after the job is gone


def test_deleting_a_running_job_charges_what_its_workers_ran(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, accounting=log)
    submit_job(bench, workers=2)
    bench.clock.advance(20)
    bench.store.delete(JOBS, "default", "tj")
    bench.settle()
    assert bench.store.list(JOBS)[0] == []
    assert sorted((r.step, r.outcome, r.end - r.start) for r in log.records()) == [
        ("worker-0", "Stopped", 20.0),
        ("worker-1", "Stopped", 20.0),
    ]


def test_a_waiting_gang_is_told_its_place_and_when_all_workers_fit(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    # The step is expected to run 100 s (its timeout): then all three workers fit.
    bench.submit([py("hog", resources={"cpu": "2"}, timeoutSeconds=100)], cache=False)
    submit_job(bench, workers=3)
    st = status(bench)
    assert st["phase"] == "Pending"
    assert st["queuePosition"] == 1
    estimate = st["estimatedStart"]
    assert estimate["after"] == "r1/hog"
    started = bench.step("hog")["startTime"]
    assert _seconds_between(started, estimate["time"]) == 100
    (hog,) = bench.running("hog")
    bench.complete(hog)
    st = status(bench)
    assert st["phase"] == "Running"
    assert "estimatedStart" not in st and "queuePosition" not in st


def test_a_gang_behind_a_step_whose_end_is_unknown_gets_an_unknown_estimate(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path)
    bench.submit([py("hog", resources={"cpu": "3"})], cache=False)
    submit_job(bench, "first", workers=2)
    bench.clock.advance(1)
    submit_job(bench, "second", workers=2)
    assert (status(bench, "first")["queuePosition"], status(bench, "second")["queuePosition"]) == (
        1,
        2,
    )
    estimate = status(bench, "first")["estimatedStart"]
    assert "time" not in estimate
    assert "r1/hog" in estimate["reason"]


def test_under_a_cluster_queue_the_estimate_says_it_is_unknown_and_why(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    team_queue(bench, cpu="1")
    submit_job(bench, workers=2)
    estimate: dict[str, Any] = status(bench)["estimatedStart"]
    assert "time" not in estimate
    assert "ClusterQueue quota" in estimate["reason"]


def _seconds_between(start: str, end: str) -> float:
    return (parse_time(end) - parse_time(start)).total_seconds()
