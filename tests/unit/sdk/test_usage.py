from datetime import UTC, datetime

import pytest

from mlkube.sdk.usage import step_charge, usage_rows

NOW = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def run(ns: str, user: str | None, *steps: dict[str, object]) -> dict[str, object]:
    annotations = {"mlkube.io/created-by": user} if user else {}
    return {
        "metadata": {"namespace": ns, "annotations": annotations},
        "status": {"steps": list(steps)},
    }


def step(start: str, end: str | None, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"startTime": start, **extra}
    if end:
        body["finishTime"] = end
    return body


def test_steps_are_charged_for_what_they_held() -> None:
    two_cores_one_gpu = step(
        "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", placement={"cpuMillis": 2000, "gpus": [0]}
    )
    assert step_charge(two_cores_one_gpu, NOW) == (2.0, 1.0)
    best_effort = step("2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z", usage={"cpuCoresAvg": 0.5})
    assert step_charge(best_effort, NOW) == (0.25, 0.0)
    running = step("2026-01-01T01:00:00Z", None, placement={"cpuMillis": 1000, "gpus": []})
    assert step_charge(running, NOW) == (1.0, 0.0)
    cached = step("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", cached=True)
    assert step_charge(cached, NOW) == (0.0, 0.0)


def test_rows_per_namespace_and_user() -> None:
    held = {"placement": {"cpuMillis": 1000, "gpus": [0, 1]}}
    rows = usage_rows(
        [
            run("b", "bob", step("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", **held)),
            run("a", "alice", step("2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z", **held)),
            run("a", "alice", step("2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z", **held)),
            run("a", None),
        ],
        now=NOW,
    )
    assert [(r.namespace, r.user, r.runs, r.steps, r.cpu_hours, r.gpu_hours) for r in rows] == [
        ("a", "<unknown>", 1, 0, 0.0, 0.0),
        ("a", "alice", 2, 2, 1.0, 2.0),
        ("b", "bob", 1, 1, 1.0, 2.0),
    ]


def record(run_uid: str, step: str, start: float, end: float, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "namespace": "a",
        "user": "alice",
        "run": "r",
        "run_uid": run_uid,
        "pipeline": "p",
        "step": step,
        "attempt": 1,
        "start": start,
        "end": end,
        "outcome": "Succeeded",
        "cpu_millis": 2000,
        "gpus": 0.5,
        "cpu_cores_avg": 0.1,
    }
    return body | extra


T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def test_records_are_charged_after_their_run_is_gone() -> None:
    rows = usage_rows([], now=NOW, records=[record("u1", "train", T0, T0 + 3600)])
    assert [(r.namespace, r.user, r.runs, r.steps, r.cpu_hours, r.gpu_hours) for r in rows] == [
        ("a", "alice", 1, 1, 2.0, 0.5)
    ]


def test_a_step_in_both_a_record_and_its_status_is_charged_once() -> None:
    held = {"placement": {"cpuMillis": 2000, "gpus": []}, "name": "train"}
    finished = step("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", **held)
    running = step("2026-01-01T01:00:00Z", None, **held | {"name": "eval"})
    existing = run("a", "alice", finished, running)
    existing["metadata"]["uid"] = "u1"  # type: ignore[index]
    earlier_attempt = record("u1", "train", T0 - 3600, T0, attempt=0)
    rows = usage_rows(
        [existing], now=NOW, records=[earlier_attempt, record("u1", "train", T0, T0 + 3600)]
    )
    # Two recorded attempts of train (2 h of 2 cores), plus eval running for an hour.
    assert [(r.runs, r.steps, r.cpu_hours) for r in rows] == [(1, 3, 6.0)]


def test_best_effort_records_are_charged_their_measured_cpu() -> None:
    rows = usage_rows([], now=NOW, records=[record("u", "s", T0, T0 + 7200, cpu_millis=0)])
    assert rows[0].cpu_hours == pytest.approx(0.2)


def test_storage_counts_each_artifact_once() -> None:
    out = {"name": "o", "artifact": {"uri": "file://x", "digest": "sha256:1", "size": 100}}
    other = {"name": "o", "artifact": {"uri": "file://y", "digest": "sha256:2", "size": 50}}
    rows = usage_rows(
        [
            run("a", "alice", {"outputs": [out]}, {"outputs": [out, other]}),
            run("a", "alice", {"outputs": [out]}),
        ],
        now=NOW,
    )
    assert rows[0].storage_bytes == 150
