"""What only the SQLite store must show: durability, WAL, and several writers on one file
(threads, store instances, processes) that never lose an update."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Conflict, ServiceUnavailable
from mlkube.store.sqlite import SqliteStore
from mlkube.testing.clock import FakeClock

RUNS = "pipelineruns.mlkube.io"


def run(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "PipelineRun", "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def increment(store: SqliteStore, name: str) -> int:
    """Read-modify-write with optimistic concurrency; returns how many conflicts it retried."""
    conflicts = 0
    while True:
        obj = store.get(RUNS, "ns", name)
        obj["spec"]["count"] += 1
        try:
            store.update(RUNS, obj)
            return conflicts
        except Conflict:
            conflicts += 1


def test_writes_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, clock=FakeClock())
    created = store.create(RUNS, run("a", count=0))
    updated = store.update_status(RUNS, {**created, "status": {"phase": "Running"}})
    store.close()

    reopened = SqliteStore(path, clock=FakeClock())
    try:
        assert reopened.get(RUNS, "ns", "a") == updated
        assert reopened.current_resource_version() == 2
        assert [e.type for e in reopened.events_since(0)] == ["ADDED", "MODIFIED"]
        again = reopened.create(RUNS, run("b"))
        assert again["metadata"]["resourceVersion"] == "3"
    finally:
        reopened.close()


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (1,)
    raw.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(ServiceUnavailable, match="schema version 99"):
        SqliteStore(path)


def test_event_history_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, event_retention=5)
    for i in range(20):
        store.create(RUNS, run(f"r{i}"))
    store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*), MIN(rv) FROM events").fetchone() == (5, 16)
    raw.close()


def test_a_second_instance_sees_writes_and_watch_events(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    writer, reader = SqliteStore(path), SqliteStore(path, poll_interval=0.05)
    try:
        watch = reader.watch(RUNS, resource_version=reader.current_resource_version())
        created = writer.create(RUNS, run("a"))
        assert reader.get(RUNS, "ns", "a") == created
        # The reader's subscribers hear nothing of another instance's write: its poll finds it.
        event = watch.next(timeout=10)
        watch.close()
        assert event is not None
        assert (event.type, event.object) == ("ADDED", created)
    finally:
        writer.close()
        reader.close()


WRITE_THEN_DIE = """
    import os, signal, sys
    from mlkube.store.sqlite import SqliteStore
    store = SqliteStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        store.create("pipelineruns.mlkube.io", {"metadata": {"name": f"r{i}", "namespace": "ns"}})
    print("committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no atexit
"""


def test_another_process_writes_are_watched_and_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, poll_interval=0.05)
    try:
        watch = store.watch(RUNS, resource_version=store.current_resource_version())
        done = run_python(WRITE_THEN_DIE, str(path), "20")
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert done.stdout == "committed\n"
        names: list[str] = []
        while len(names) < 20 and (event := watch.next(timeout=10)) is not None:
            names.append(event.object["metadata"]["name"])
        watch.close()
        assert names == [f"r{i}" for i in range(20)]
    finally:
        store.close()
    reopened = SqliteStore(path)
    try:
        items, version = reopened.list(RUNS)
        assert len(items) == 20 and version == 20
    finally:
        reopened.close()


def test_threads_on_two_instances_never_lose_an_update(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    stores = [SqliteStore(path), SqliteStore(path)]
    stores[0].create(RUNS, run("counter", count=0))
    threads, per_thread = 8, 25
    conflicts: list[int] = []

    def work(store: SqliteStore) -> None:
        conflicts.extend(increment(store, "counter") for _ in range(per_thread))

    workers = [threading.Thread(target=work, args=(stores[i % 2],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    try:
        final = stores[1].get(RUNS, "ns", "counter")
        assert final["spec"]["count"] == threads * per_thread
        assert final["metadata"]["generation"] == 1 + threads * per_thread
        assert len(conflicts) == threads * per_thread
    finally:
        for store in stores:
            store.close()


INCREMENT_IN_A_PROCESS = """
    import sys
    from mlkube.api.errors import Conflict
    from mlkube.store.sqlite import SqliteStore
    store = SqliteStore(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        while True:
            obj = store.get("pipelineruns.mlkube.io", "ns", "counter")
            obj["spec"]["count"] += 1
            try:
                store.update("pipelineruns.mlkube.io", obj)
                break
            except Conflict:
                pass
    store.close()
"""


def test_processes_never_lose_an_update(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    store.create(RUNS, run("counter", count=0))
    code = textwrap.dedent(INCREMENT_IN_A_PROCESS)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), "40"], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    try:
        assert store.get(RUNS, "ns", "counter")["spec"]["count"] == 120
        assert store.current_resource_version() == 121
        assert len(store.events_since(0)) == 121
    finally:
        store.close()
