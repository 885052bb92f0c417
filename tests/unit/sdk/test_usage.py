from datetime import UTC, datetime

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
