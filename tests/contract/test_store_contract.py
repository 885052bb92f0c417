"""One behavioural suite for every `ResourceStore`: SQLite on a real file, and the memory fake."""

from __future__ import annotations

import string
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from mlkube.store.base import ResourceStore, WatchEvent
from mlkube.store.engine import StoreEngine
from mlkube.store.sqlite import SqliteStore
from mlkube.testing.clock import FakeClock
from mlkube.testing.memory_store import MemoryStore

RUNS = "pipelineruns.mlkube.io"
NAMESPACES = "namespaces"


def make_store(kind: str, tmp_path: Path, clock: FakeClock, retention: int) -> StoreEngine:
    if kind == "sqlite":
        return SqliteStore(tmp_path / "state.db", clock=clock, event_retention=retention)
    return MemoryStore(clock=clock, event_retention=retention)


@pytest.fixture(params=["sqlite", "memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[ResourceStore]:
    s = make_store(backend, tmp_path, clock, 10000)
    yield s
    s.close()


def run(name: str, ns: str = "team-a", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, **extra.pop("meta", {})}
    obj: dict[str, Any] = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": meta,
        "spec": {"pipeline": "train", "params": {"lr": 0.1}},
    }
    obj.update(extra)
    return obj


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


# ---- create / get ---------------------------------------------------------------------


def test_create_sets_server_fields_from_the_clock(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a"))
    meta = created["metadata"]
    assert meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == "1"
    assert len(meta["uid"]) == 36
    assert created["spec"] == {"pipeline": "train", "params": {"lr": 0.1}}
    assert store.get(RUNS, "team-a", "a") == created


def test_create_ignores_client_sent_server_fields(store: ResourceStore) -> None:
    sent = run(
        "a", meta={"uid": "mine", "generation": 7, "deletionTimestamp": "2020-01-01T00:00:00Z"}
    )
    meta = store.create(RUNS, sent)["metadata"]
    assert meta["uid"] != "mine"
    assert meta["generation"] == 1
    assert "deletionTimestamp" not in meta


def test_resource_version_is_one_global_counter(store: ResourceStore) -> None:
    first = store.create(RUNS, run("a"))
    second = store.create(NAMESPACES, {"metadata": {"name": "team-a"}})
    third = store.create(RUNS, run("a", ns="team-b"))
    assert [rv(first), rv(second), rv(third)] == [1, 2, 3]
    assert store.current_resource_version() == 3


def test_create_neither_mutates_its_argument_nor_shares_the_result(store: ResourceStore) -> None:
    sent = run("a")
    created = store.create(RUNS, sent)
    assert sent == run("a")
    created["spec"]["params"]["lr"] = 9
    sent["spec"]["params"]["lr"] = 8
    assert store.get(RUNS, "team-a", "a")["spec"]["params"]["lr"] == 0.1


def test_generate_name_appends_five_random_characters(store: ResourceStore) -> None:
    obj = run("x")
    obj["metadata"] = {"generateName": "train-", "namespace": "team-a"}
    names = {store.create(RUNS, obj)["metadata"]["name"] for _ in range(20)}
    assert len(names) == 20
    for name in names:
        prefix, suffix = name[:6], name[6:]
        assert prefix == "train-" and len(suffix) == 5
        assert set(suffix) <= set(string.ascii_lowercase + string.digits)


def test_create_without_a_name_is_invalid(store: ResourceStore) -> None:
    with pytest.raises(Invalid, match="name or generateName is required"):
        store.create(RUNS, {"metadata": {"namespace": "team-a"}})


def test_create_twice_raises_already_exists(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    with pytest.raises(AlreadyExists) as err:
        store.create(RUNS, run("a"))
    assert err.value.message == 'pipelineruns.mlkube.io "a" already exists'
    assert (err.value.kind, err.value.group, err.value.name) == ("pipelineruns", "mlkube.io", "a")
    assert store.current_resource_version() == 1


def test_same_name_in_other_namespace_or_resource_is_fine(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    store.create(RUNS, run("a", ns="team-b"))
    store.create("pipelines.mlkube.io", run("a"))
    assert store.current_resource_version() == 3


def test_get_missing_raises_not_found_with_kubernetes_message(store: ResourceStore) -> None:
    with pytest.raises(NotFound) as err:
        store.get(RUNS, "team-a", "x")
    assert err.value.message == 'pipelineruns.mlkube.io "x" not found'
    with pytest.raises(NotFound) as err:
        store.get(NAMESPACES, "", "x")
    assert err.value.message == 'namespaces "x" not found'
    assert (err.value.kind, err.value.group) == ("namespaces", "")


def test_cluster_scoped_objects_have_no_namespace(store: ResourceStore) -> None:
    created = store.create(NAMESPACES, {"metadata": {"name": "team-a", "namespace": ""}})
    assert "namespace" not in created["metadata"]
    assert store.get(NAMESPACES, "", "team-a") == created


def test_values_json_cannot_hold_are_refused(store: ResourceStore) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        store.create(RUNS, run("a", spec={"when": object()}))
    with pytest.raises(BadRequest):
        store.create(RUNS, run("a", spec={"x": float("nan")}))
    assert store.current_resource_version() == 0
    with pytest.raises(NotFound):
        store.get(RUNS, "team-a", "a")


# ---- list ------------------------------------------------------------------------------


def test_list_sorts_by_namespace_then_name_and_returns_the_version(store: ResourceStore) -> None:
    for ns, name in [("b", "x"), ("a", "z"), ("a", "b"), ("c", "a")]:
        store.create(RUNS, run(name, ns=ns))
    store.create(NAMESPACES, {"metadata": {"name": "other"}})
    items, version = store.list(RUNS)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("a", "b"),
        ("a", "z"),
        ("b", "x"),
        ("c", "a"),
    ]
    assert version == 5
    assert [o["metadata"]["name"] for o in store.list(RUNS, "a")[0]] == ["b", "z"]
    assert store.list(RUNS, "nowhere") == ([], 5)


def test_list_filters_by_label_selector(store: ResourceStore) -> None:
    store.create(RUNS, run("a", meta={"labels": {"team": "vision", "tier": "gold"}}))
    store.create(RUNS, run("b", meta={"labels": {"team": "nlp"}}))
    store.create(RUNS, run("c"))

    def names(selector: str) -> list[str]:
        return [o["metadata"]["name"] for o in store.list(RUNS, label_selector=selector)[0]]

    assert names("team=vision") == ["a"]
    assert names("team!=vision") == ["b", "c"]
    assert names("team in (vision,nlp),!tier") == ["b"]
    assert names("tier") == ["a"]
    with pytest.raises(BadRequest, match="unable to parse requirement"):
        store.list(RUNS, label_selector="team in vision")


# ---- update ----------------------------------------------------------------------------


def test_update_with_stale_resource_version_conflicts(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a"))
    store.update(RUNS, created)  # unchanged: no write, version stays valid
    changed = {**created, "spec": {"pipeline": "eval"}}
    store.update(RUNS, changed)
    with pytest.raises(Conflict) as err:
        store.update(RUNS, {**created, "spec": {"pipeline": "other"}})
    assert err.value.message == (
        'Operation cannot be fulfilled on pipelineruns.mlkube.io "a": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )


def test_update_without_resource_version_is_unconditional(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    obj = run("a", spec={"pipeline": "eval"})
    updated = store.update(RUNS, obj)
    assert updated["spec"] == {"pipeline": "eval"}
    assert rv(updated) == 2


def test_update_keeps_status_and_server_fields(store: ResourceStore, clock: FakeClock) -> None:
    created = store.create(RUNS, run("a", status={"phase": "Running"}))
    clock.advance(60)
    sent = run("a", spec={"pipeline": "eval"}, status={"phase": "Hacked"})
    sent["metadata"].update(creationTimestamp="1999-01-01T00:00:00Z", generation=40)
    updated = store.update(RUNS, sent)
    assert updated["status"] == {"phase": "Running"}
    for key in ("uid", "creationTimestamp"):
        assert updated["metadata"][key] == created["metadata"][key]
    assert updated["metadata"]["generation"] == 2


def test_generation_moves_only_when_spec_changes(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a"))
    relabelled = store.update(
        RUNS, {**created, "metadata": {**created["metadata"], "labels": {"x": "y"}}}
    )
    assert relabelled["metadata"]["generation"] == 1
    assert rv(relabelled) == 2
    respecced = store.update(RUNS, {**relabelled, "spec": {"pipeline": "eval"}})
    assert respecced["metadata"]["generation"] == 2


def test_an_update_that_changes_nothing_writes_nothing(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a", status={"phase": "Running"}))
    assert store.update(RUNS, created) == created
    assert store.update_status(RUNS, created) == created
    assert store.patch(RUNS, "team-a", "a", {"spec": {"pipeline": "train"}}) == created
    assert store.current_resource_version() == 1
    assert len(store.events_since(0)) == 1


def test_true_is_not_one_for_change_detection(store: ResourceStore) -> None:
    store.create(RUNS, run("a", spec={"flag": 1}))
    updated = store.update(RUNS, run("a", spec={"flag": True}))
    assert updated["spec"] == {"flag": True}
    assert rv(updated) == 2


def test_update_missing_raises_not_found(store: ResourceStore) -> None:
    with pytest.raises(NotFound):
        store.update(RUNS, run("ghost"))
    with pytest.raises(Invalid):
        store.update(RUNS, {"metadata": {}})


def test_update_of_a_recreated_object_conflicts_on_uid(store: ResourceStore) -> None:
    old = store.create(RUNS, run("a"))
    store.delete(RUNS, "team-a", "a")
    store.create(RUNS, run("a"))
    stale = {**old, "metadata": {**old["metadata"], "resourceVersion": None}}
    with pytest.raises(Conflict, match="UID in precondition"):
        store.update(RUNS, stale)


# ---- status ----------------------------------------------------------------------------


def test_update_status_replaces_only_status(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a", status={"phase": "Pending"}))
    sent = {**created, "spec": {"pipeline": "hacked"}, "status": {"phase": "Running"}}
    sent["metadata"] = {**created["metadata"], "labels": {"hacked": "yes"}}
    updated = store.update_status(RUNS, sent)
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"] == created["spec"]
    assert "labels" not in updated["metadata"]
    assert updated["metadata"]["generation"] == 1
    assert rv(updated) == 2
    with pytest.raises(Conflict):
        store.update_status(RUNS, {**created, "status": {"phase": "Failed"}})


def test_update_status_without_status_clears_it(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a", status={"phase": "Pending"}))
    cleared = store.update_status(RUNS, {k: v for k, v in created.items() if k != "status"})
    assert "status" not in cleared


# ---- patch -----------------------------------------------------------------------------


def test_patch_merges_and_null_removes(store: ResourceStore) -> None:
    store.create(RUNS, run("a", meta={"labels": {"a": "1", "b": "2"}}))
    patched = store.patch(
        RUNS,
        "team-a",
        "a",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"params": None}},
    )
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"] == {"pipeline": "train"}
    assert patched["metadata"]["generation"] == 2


def test_patch_ignores_status_unless_on_the_status_subresource(store: ResourceStore) -> None:
    store.create(RUNS, run("a", status={"phase": "Pending", "step": 1}))
    kept = store.patch(RUNS, "team-a", "a", {"status": {"phase": "Hacked"}, "spec": {"x": 1}})
    assert kept["status"] == {"phase": "Pending", "step": 1}
    patched = store.patch(
        RUNS,
        "team-a",
        "a",
        {"status": {"phase": "Running"}, "spec": {"y": 2}},
        subresource="status",
    )
    assert patched["status"] == {"phase": "Running", "step": 1}
    assert "y" not in patched["spec"]
    assert patched["metadata"]["generation"] == 2  # from the spec patch before, not this one
    gone = store.patch(RUNS, "team-a", "a", {"status": None}, subresource="status")
    assert "status" not in gone


def test_status_patch_without_status_changes_nothing(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a", status={"startTime": None}))
    assert store.patch(RUNS, "team-a", "a", {"spec": {"x": 1}}, subresource="status") == created
    assert store.patch(RUNS, "team-a", "a", {"status": {}}, subresource="status") == created


def test_a_namespace_must_be_a_string(store: ResourceStore) -> None:
    with pytest.raises(Invalid, match=r"metadata\.namespace"):
        store.create(RUNS, {"metadata": {"generateName": "x-", "namespace": 5}})


def test_patch_resource_version_is_a_precondition(store: ResourceStore) -> None:
    created = store.create(RUNS, run("a"))
    ok = store.patch(RUNS, "team-a", "a", {"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}})
    assert rv(ok) == 2
    with pytest.raises(Conflict):
        store.patch(RUNS, "team-a", "a", {"metadata": created["metadata"], "spec": {"x": 2}})


def test_patch_refuses_renames_and_unknown_subresources(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    with pytest.raises(BadRequest, match="name or namespace"):
        store.patch(RUNS, "team-a", "a", {"metadata": {"name": "b"}})
    with pytest.raises(BadRequest, match="scale"):
        store.patch(RUNS, "team-a", "a", {}, subresource="scale")
    with pytest.raises(NotFound):
        store.patch(RUNS, "team-a", "ghost", {"spec": {}})


# ---- delete and finalizers -------------------------------------------------------------


def test_delete_without_finalizers_removes_and_reports_last_state(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    deleted = store.delete(RUNS, "team-a", "a")
    assert rv(deleted) == 2
    with pytest.raises(NotFound):
        store.get(RUNS, "team-a", "a")
    event = store.events_since(1)[0]
    assert (event.type, event.resource_version, event.object) == ("DELETED", 2, deleted)
    with pytest.raises(NotFound):
        store.delete(RUNS, "team-a", "a")


def test_delete_with_finalizers_marks_and_update_completes_it(
    store: ResourceStore, clock: FakeClock
) -> None:
    store.create(RUNS, run("a", meta={"finalizers": ["mlkube.io/cleanup"]}))
    clock.advance(90)
    marked = store.delete(RUNS, "team-a", "a")
    meta = marked["metadata"]
    assert meta["deletionTimestamp"] == "2026-01-01T00:01:30Z"
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2
    assert store.get(RUNS, "team-a", "a") == marked
    assert store.delete(RUNS, "team-a", "a") == marked  # again: nothing happens
    assert store.current_resource_version() == 2
    # A client cannot clear the deletion mark by sending an object without it.
    relabelled = store.update(
        RUNS, run("a", meta={"finalizers": ["mlkube.io/cleanup"], "labels": {"x": "y"}})
    )
    assert relabelled["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    done = store.update(
        RUNS, {**relabelled, "metadata": {**relabelled["metadata"], "finalizers": []}}
    )
    assert rv(done) == 4
    with pytest.raises(NotFound):
        store.get(RUNS, "team-a", "a")
    assert [e.type for e in store.events_since(0)] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]


def test_patch_that_clears_finalizers_deletes(store: ResourceStore) -> None:
    store.create(RUNS, run("a", meta={"finalizers": ["f"]}))
    store.delete(RUNS, "team-a", "a")
    last = store.patch(RUNS, "team-a", "a", {"metadata": {"finalizers": None}})
    assert "finalizers" not in last["metadata"]
    assert store.list(RUNS)[0] == []


def test_clearing_finalizers_of_a_live_object_just_updates(store: ResourceStore) -> None:
    store.create(RUNS, run("a", meta={"finalizers": ["f"]}))
    updated = store.patch(RUNS, "team-a", "a", {"metadata": {"finalizers": []}})
    assert updated["metadata"]["finalizers"] == []
    assert store.get(RUNS, "team-a", "a") == updated


def test_delete_precondition(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    with pytest.raises(Conflict):
        store.delete(RUNS, "team-a", "a", resource_version="7")
    assert rv(store.delete(RUNS, "team-a", "a", resource_version="1")) == 2


def test_delete_collection_honours_namespace_selector_and_finalizers(store: ResourceStore) -> None:
    store.create(RUNS, run("plain"))
    store.create(RUNS, run("held", meta={"finalizers": ["f"]}))
    store.create(RUNS, run("kept", meta={"labels": {"keep": "yes"}}))
    store.create(RUNS, run("elsewhere", ns="team-b"))
    results = store.delete_collection(RUNS, "team-a", label_selector="!keep")
    assert [o["metadata"]["name"] for o in results] == ["held", "plain"]
    remaining = [o["metadata"]["name"] for o in store.list(RUNS)[0]]
    assert remaining == ["held", "kept", "elsewhere"]
    assert "deletionTimestamp" in store.get(RUNS, "team-a", "held")["metadata"]
    assert store.delete_collection(RUNS, "nowhere") == []


# ---- events ----------------------------------------------------------------------------


def test_events_since_returns_ordered_filtered_events(store: ResourceStore) -> None:
    a = store.create(RUNS, run("a"))
    store.create(RUNS, run("b", ns="team-b"))
    store.create(NAMESPACES, {"metadata": {"name": "team-a"}})
    store.update(RUNS, {**a, "spec": {"pipeline": "eval"}})
    everything = store.events_since(0)
    assert [(e.type, e.resource_version) for e in everything] == [
        ("ADDED", 1),
        ("ADDED", 2),
        ("ADDED", 3),
        ("MODIFIED", 4),
    ]
    assert [e.resource_version for e in store.events_since(0, resource=RUNS)] == [1, 2, 4]
    assert [
        e.resource_version for e in store.events_since(1, resource=RUNS, namespace="team-a")
    ] == [4]
    assert [e.resource_version for e in store.events_since(0, limit=2)] == [1, 2]
    assert store.events_since(4) == []
    assert everything[3].object["spec"] == {"pipeline": "eval"}


def test_selector_events_follow_objects_in_and_out_of_the_selection(store: ResourceStore) -> None:
    obj = store.create(RUNS, run("a", meta={"labels": {"tier": "gold"}}))
    for tier in ("silver", "gold"):
        obj = store.update(RUNS, {**obj, "metadata": {**obj["metadata"], "labels": {"tier": tier}}})
    store.create(RUNS, run("b", meta={"labels": {"tier": "silver"}}))
    store.delete(RUNS, "team-a", "a")
    events = store.events_since(0, label_selector="tier=gold")
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", 1),
        ("DELETED", 2),  # stopped matching
        ("ADDED", 3),  # matches again
        ("DELETED", 5),
    ]


def test_a_selector_never_hides_matches_behind_the_limit(store: ResourceStore) -> None:
    for i in range(30):
        store.create(RUNS, run(f"noise-{i}"))
    store.create(RUNS, run("wanted", meta={"labels": {"want": "yes"}}))
    events = store.events_since(0, label_selector="want", limit=5)
    assert [e.object["metadata"]["name"] for e in events] == ["wanted"]


def test_compacted_history_raises_expired(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 3)
    try:
        for i in range(6):
            store.create(RUNS, run(f"r{i}"))
        assert [e.resource_version for e in store.events_since(3)] == [4, 5, 6]
        with pytest.raises(Expired) as err:
            store.events_since(2)
        assert err.value.message == "too old resource version: 2 (3)"
        assert err.value.code == 410
    finally:
        store.close()


def test_bad_limit_is_refused(store: ResourceStore) -> None:
    with pytest.raises(BadRequest):
        store.events_since(0, limit=0)


# ---- subscribe and watch ---------------------------------------------------------------


def test_subscribers_hear_each_write_after_commit(store: ResourceStore) -> None:
    heard: list[tuple[int, int]] = []

    def callback(version: int) -> None:
        # Runs outside the store lock: calling the store here must not deadlock.
        heard.append((version, store.current_resource_version()))

    unsubscribe = store.subscribe(callback)
    store.create(RUNS, run("a"))
    store.update(RUNS, run("a"))  # no change, no write, no call
    store.delete(RUNS, "team-a", "a")
    unsubscribe()
    unsubscribe()
    store.create(RUNS, run("b"))
    assert heard == [(1, 1), (2, 2)]


def test_a_failing_subscriber_never_breaks_a_write(
    store: ResourceStore, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[int] = []

    def broken(version: int) -> None:
        raise RuntimeError("boom")

    store.subscribe(broken)
    store.subscribe(heard.append)
    created = store.create(RUNS, run("a"))
    assert store.get(RUNS, "team-a", "a") == created
    assert heard == [1]
    assert "boom" in caplog.text


def test_watch_delivers_events_after_the_version(store: ResourceStore) -> None:
    store.create(RUNS, run("old"))
    _, version = store.list(RUNS)
    store.create(NAMESPACES, {"metadata": {"name": "ignored"}})
    store.create(RUNS, run("new"))
    with store.watch(RUNS, resource_version=version) as watch:
        event = watch.next(timeout=0)
        assert event is not None
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "new")
        assert watch.next(timeout=0) is None
    assert watch.closed
    assert watch.next(timeout=0) is None


def test_watch_wakes_on_a_write_from_another_thread(store: ResourceStore) -> None:
    watch = store.watch(RUNS, "team-a", resource_version=0, label_selector="app=x")
    writer = threading.Thread(
        target=store.create, args=(RUNS, run("a", meta={"labels": {"app": "x"}}))
    )
    writer.start()
    event = watch.next(timeout=10)
    writer.join()
    watch.close()
    assert event is not None and event.object["metadata"]["name"] == "a"


def test_watch_iteration_ends_when_closed_from_another_thread(store: ResourceStore) -> None:
    store.create(RUNS, run("a"))
    watch = store.watch(RUNS, resource_version=0)
    seen: list[WatchEvent] = []
    for event in watch:
        seen.append(event)
        threading.Thread(target=watch.close).start()
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


def test_watch_rejects_a_bad_selector_at_once(store: ResourceStore) -> None:
    with pytest.raises(BadRequest):
        store.watch(RUNS, resource_version=0, label_selector="a in b")


def test_watch_raises_expired_and_closes(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 2)
    try:
        watch = store.watch(RUNS, resource_version=0)
        for i in range(4):
            store.create(RUNS, run(f"r{i}"))
        with pytest.raises(Expired):
            watch.next(timeout=0)
        assert watch.closed
    finally:
        store.close()


def test_a_quiet_watch_does_not_expire_while_others_write(
    backend: str, tmp_path: Path, clock: FakeClock
) -> None:
    store = make_store(backend, tmp_path, clock, 2)
    try:
        watch = store.watch(RUNS, resource_version=0)
        for i in range(5):
            store.create(NAMESPACES, {"metadata": {"name": f"n{i}"}})
            assert watch.next(timeout=0) is None
        store.create(RUNS, run("a"))
        event = watch.next(timeout=0)
        assert event is not None and event.resource_version == 6
    finally:
        store.close()


def test_a_closed_store_refuses_calls(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 10)
    store.close()
    store.close()
    with pytest.raises(ServiceUnavailable):
        store.get(RUNS, "team-a", "a")
    with pytest.raises(ServiceUnavailable):
        store.create(RUNS, run("a"))
