"""The SQLite accounting log: durable, append-only, one record per attempt, beside the store."""

from __future__ import annotations

from pathlib import Path

from mlkube.store.accounting import SqliteAccountingLog, UsageRecord
from mlkube.store.sqlite import SqliteStore


def rec(step: str, start: float, end: float, **extra: object) -> UsageRecord:
    fields: dict[str, object] = {
        "namespace": "team",
        "user": "alice",
        "run": "r",
        "run_uid": "uid-1",
        "pipeline": "train-pipeline",
        "step": step,
        "attempt": 1,
        "start": start,
        "end": end,
        "outcome": "Succeeded",
        "cpu_millis": 1500,
        "gpus": 0.25,
        "cpu_cores_avg": 1.2,
    }
    return UsageRecord.from_dict(fields | extra)


def test_records_survive_reopening_and_are_kept_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)  # the log shares the store's file
    log = SqliteAccountingLog(path)
    log.append(rec("train", 10.0, 70.0))
    log.append(rec("train", 10.0, 70.0))  # the same attempt again (a retried status write)
    log.append(rec("eval", 80.0, 90.0, namespace="other"))
    log.close()
    store.close()
    again = SqliteAccountingLog(path)
    assert again.records() == [rec("train", 10.0, 70.0), rec("eval", 80.0, 90.0, namespace="other")]
    assert again.records("team") == [rec("train", 10.0, 70.0)]
    assert SqliteStore(path).list("namespaces")[0] == []  # the store still opens beside it
    again.close()


def test_a_rerun_attempt_with_the_same_number_is_a_new_record(tmp_path: Path) -> None:
    log = SqliteAccountingLog(tmp_path / "state.db")
    log.append(rec("train", 10.0, 20.0, outcome="Stopped"))
    log.append(rec("train", 30.0, 50.0))  # attempt 1 again after a restart: another start
    assert [r.start for r in log.records()] == [10.0, 30.0]
    log.close()


def test_durations_are_the_latest_successful_ones(tmp_path: Path) -> None:
    log = SqliteAccountingLog(tmp_path / "state.db")
    for i, (length, outcome) in enumerate([(60, "Succeeded"), (5, "Failed"), (90, "Succeeded")]):
        start = 100.0 * i
        log.append(rec("train", start, start + length, attempt=i + 1, outcome=outcome))
    log.append(rec("train", 0.0, 500.0, pipeline="another"))
    assert log.durations("team", "train-pipeline", "train", limit=5) == [90.0, 60.0]
    assert log.durations("team", "train-pipeline", "train", limit=1) == [90.0]
    assert log.durations("team", "train-pipeline", "eval", limit=5) == []
    log.close()
