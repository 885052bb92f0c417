"""One behavioural suite for every `ResourceStore`: SQLite on a real file, and the memory fake.

`tests/integration/kube/test_kubernetes_store.py` runs it against `KubernetesStore` too, all
but the tests it lists with a reason. To stay portable a test uses only the `store` and `head`
fixtures, objects an API server accepts unchanged (`pipeline`), the namespaces team-a,
team-b and team-c, and resource versions relative to `head`.
"""

from __future__ import annotations

import copy
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
from mlkube.api.pipeline import Pipeline
from mlkube.store.base import ResourceStore, WatchEvent
from mlkube.store.engine import StoreEngine
from mlkube.store.sqlite import SqliteStore
from mlkube.testing.clock import FakeClock
from mlkube.testing.memory_store import MemoryStore

PIPELINES = "pipelines.mlkube.io"
RUNS = "pipelineruns.mlkube.io"
NAMESPACES = "namespaces"

# A Pipeline spec with every default filled in, so a server that validates and defaults
# objects stores it unchanged (the embedded stores never look inside `spec`).
SPEC = Pipeline.model_validate(
    {"spec": {"description": "first", "steps": [{"name": "say", "command": ["true"]}]}}
).to_dict()["spec"]


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


@pytest.fixture
def head() -> int:
    """The store's resource version when the test starts: 0, for a new embedded store."""
    return 0


def spec(**changes: Any) -> dict[str, Any]:
    """A fresh copy of `SPEC`, with `changes` (e.g. `description="eval"`) applied."""
    return {**copy.deepcopy(SPEC), **changes}


def pipeline(name: str, ns: str = "team-a", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, **extra.pop("meta", {})}
    obj: dict[str, Any] = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": meta,
        "spec": spec(),
    }
    obj.update(extra)
    return obj


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


# ---- create / get ---------------------------------------------------------------------


def test_create_sets_server_fields_from_the_clock(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    meta = created["metadata"]
    assert meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == "1"
    assert len(meta["uid"]) == 36
    assert created["spec"] == SPEC
    assert store.get(PIPELINES, "team-a", "a") == created


def test_create_ignores_client_sent_server_fields(store: ResourceStore) -> None:
    sent = pipeline(
        "a", meta={"uid": "mine", "generation": 7, "deletionTimestamp": "2020-01-01T00:00:00Z"}
    )
    meta = store.create(PIPELINES, sent)["metadata"]
    assert meta["uid"] != "mine"
    assert meta["generation"] == 1
    assert "deletionTimestamp" not in meta


def test_resource_version_is_one_global_counter(store: ResourceStore, head: int) -> None:
    first = store.create(PIPELINES, pipeline("a"))
    second = store.create(NAMESPACES, {"metadata": {"name": "fresh"}})
    third = store.create(PIPELINES, pipeline("a", ns="team-b"))
    assert [rv(first), rv(second), rv(third)] == [head + 1, head + 2, head + 3]
    assert store.current_resource_version() == head + 3


def test_create_neither_mutates_its_argument_nor_shares_the_result(store: ResourceStore) -> None:
    sent = pipeline("a")
    created = store.create(PIPELINES, sent)
    assert sent == pipeline("a")
    created["spec"]["steps"][0]["command"][0] = "false"
    sent["spec"]["steps"][0]["command"][0] = "exit"
    assert store.get(PIPELINES, "team-a", "a")["spec"] == SPEC


def test_generate_name_appends_five_random_characters(store: ResourceStore) -> None:
    obj = pipeline("x")
    obj["metadata"] = {"generateName": "train-", "namespace": "team-a"}
    names = {store.create(PIPELINES, obj)["metadata"]["name"] for _ in range(20)}
    assert len(names) == 20
    for name in names:
        prefix, suffix = name[:6], name[6:]
        assert prefix == "train-" and len(suffix) == 5
        assert set(suffix) <= set(string.ascii_lowercase + string.digits)


def test_create_without_a_name_is_invalid(store: ResourceStore) -> None:
    with pytest.raises(Invalid, match="name or generateName is required"):
        store.create(PIPELINES, {"metadata": {"namespace": "team-a"}})


def test_create_twice_raises_already_exists(store: ResourceStore, head: int) -> None:
    store.create(PIPELINES, pipeline("a"))
    with pytest.raises(AlreadyExists) as err:
        store.create(PIPELINES, pipeline("a"))
    assert err.value.message == 'pipelines.mlkube.io "a" already exists'
    assert (err.value.kind, err.value.group, err.value.name) == ("pipelines", "mlkube.io", "a")
    assert store.current_resource_version() == head + 1


def test_same_name_in_other_namespace_or_resource_is_fine(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    store.create(PIPELINES, pipeline("a", ns="team-b"))
    store.create(RUNS, pipeline("a"))
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
    created = store.create(NAMESPACES, {"metadata": {"name": "fresh", "namespace": ""}})
    assert "namespace" not in created["metadata"]
    assert store.get(NAMESPACES, "", "fresh") == created


def test_values_json_cannot_hold_are_refused(store: ResourceStore, head: int) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        store.create(PIPELINES, pipeline("a", spec={"when": object()}))
    with pytest.raises(BadRequest):
        store.create(PIPELINES, pipeline("a", spec={"x": float("nan")}))
    assert store.current_resource_version() == head
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")


# ---- list ------------------------------------------------------------------------------


def test_list_sorts_by_namespace_then_name_and_returns_the_version(
    store: ResourceStore, head: int
) -> None:
    for ns, name in [("team-b", "x"), ("team-a", "z"), ("team-a", "b"), ("team-c", "a")]:
        store.create(PIPELINES, pipeline(name, ns=ns))
    store.create(NAMESPACES, {"metadata": {"name": "other"}})
    items, version = store.list(PIPELINES)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("team-a", "b"),
        ("team-a", "z"),
        ("team-b", "x"),
        ("team-c", "a"),
    ]
    assert version == head + 5 == store.current_resource_version()
    assert [o["metadata"]["name"] for o in store.list(PIPELINES, "team-a")[0]] == ["b", "z"]
    assert store.list(PIPELINES, "nowhere") == ([], head + 5)


def test_list_filters_by_label_selector(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"labels": {"team": "vision", "tier": "gold"}}))
    store.create(PIPELINES, pipeline("b", meta={"labels": {"team": "nlp"}}))
    store.create(PIPELINES, pipeline("c"))

    def names(selector: str) -> list[str]:
        return [o["metadata"]["name"] for o in store.list(PIPELINES, label_selector=selector)[0]]

    assert names("team=vision") == ["a"]
    assert names("team!=vision") == ["b", "c"]
    assert names("team in (vision,nlp),!tier") == ["b"]
    assert names("tier") == ["a"]
    with pytest.raises(BadRequest, match="unable to parse requirement"):
        store.list(PIPELINES, label_selector="team in vision")


# ---- update ----------------------------------------------------------------------------


def test_update_with_stale_resource_version_conflicts(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    assert store.update(PIPELINES, created) == created  # unchanged: no write, version valid
    store.update(PIPELINES, {**created, "spec": spec(description="eval")})
    with pytest.raises(Conflict) as err:
        store.update(PIPELINES, {**created, "spec": spec(description="other")})
    assert err.value.message == (
        'Operation cannot be fulfilled on pipelines.mlkube.io "a": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )


def test_update_without_resource_version_is_unconditional(store: ResourceStore, head: int) -> None:
    store.create(PIPELINES, pipeline("a"))
    updated = store.update(PIPELINES, pipeline("a", spec=spec(description="eval")))
    assert updated["spec"] == spec(description="eval")
    assert rv(updated) == head + 2
    assert updated["metadata"]["generation"] == 2
    # A JSON null is no version either.
    sent = pipeline("a", meta={"resourceVersion": None}, spec=spec(description="again"))
    assert rv(store.update(PIPELINES, sent)) == head + 3


def test_update_keeps_status_and_server_fields(store: ResourceStore, clock: FakeClock) -> None:
    created = store.create(PIPELINES, pipeline("a", status={"phase": "Running"}))
    clock.advance(60)
    sent = pipeline("a", spec={"pipeline": "eval"}, status={"phase": "Hacked"})
    sent["metadata"].update(creationTimestamp="1999-01-01T00:00:00Z", generation=40)
    updated = store.update(PIPELINES, sent)
    assert updated["status"] == {"phase": "Running"}
    for key in ("uid", "creationTimestamp"):
        assert updated["metadata"][key] == created["metadata"][key]
    assert updated["metadata"]["generation"] == 2


def test_generation_moves_only_when_spec_changes(store: ResourceStore, head: int) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    relabelled = store.update(
        PIPELINES, {**created, "metadata": {**created["metadata"], "labels": {"x": "y"}}}
    )
    assert relabelled["metadata"]["generation"] == 1
    assert rv(relabelled) == head + 2
    respecced = store.update(PIPELINES, {**relabelled, "spec": spec(description="eval")})
    assert respecced["metadata"]["generation"] == 2


def test_an_update_that_changes_nothing_writes_nothing(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a", status={"phase": "Running"}))
    assert store.update(PIPELINES, created) == created
    assert store.update_status(PIPELINES, created) == created
    assert store.patch(PIPELINES, "team-a", "a", {"spec": {"description": "first"}}) == created
    assert store.current_resource_version() == 1
    assert len(store.events_since(0)) == 1


def test_true_is_not_one_for_change_detection(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", spec={"flag": 1}))
    updated = store.update(PIPELINES, pipeline("a", spec={"flag": True}))
    assert updated["spec"] == {"flag": True}
    assert rv(updated) == 2


def test_update_missing_raises_not_found(store: ResourceStore) -> None:
    with pytest.raises(NotFound):
        store.update(PIPELINES, pipeline("ghost"))
    with pytest.raises(Invalid):
        store.update(PIPELINES, {"metadata": {}})


def test_update_of_a_recreated_object_conflicts_on_uid(store: ResourceStore) -> None:
    old = store.create(PIPELINES, pipeline("a"))
    store.delete(PIPELINES, "team-a", "a")
    store.create(PIPELINES, pipeline("a"))
    stale = {**old, "metadata": {**old["metadata"], "resourceVersion": None}}
    with pytest.raises(Conflict, match="UID in precondition"):
        store.update(PIPELINES, stale)


# ---- status ----------------------------------------------------------------------------


def test_update_status_replaces_only_status(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a", status={"phase": "Pending"}))
    sent = {**created, "spec": {"pipeline": "hacked"}, "status": {"phase": "Running"}}
    sent["metadata"] = {**created["metadata"], "labels": {"hacked": "yes"}}
    updated = store.update_status(PIPELINES, sent)
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"] == created["spec"]
    assert "labels" not in updated["metadata"]
    assert updated["metadata"]["generation"] == 1
    assert rv(updated) == 2
    with pytest.raises(Conflict):
        store.update_status(PIPELINES, {**created, "status": {"phase": "Failed"}})


def test_update_status_without_status_clears_it(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a", status={"phase": "Pending"}))
    cleared = store.update_status(PIPELINES, {k: v for k, v in created.items() if k != "status"})
    assert "status" not in cleared


# ---- patch -----------------------------------------------------------------------------


def test_patch_merges_and_null_removes(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"labels": {"a": "1", "b": "2"}}))
    patched = store.patch(
        PIPELINES,
        "team-a",
        "a",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"description": None}},
    )
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"] == {k: v for k, v in SPEC.items() if k != "description"}
    assert patched["metadata"]["generation"] == 2


def test_patch_ignores_status_unless_on_the_status_subresource(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", status={"phase": "Pending", "step": 1}))
    kept = store.patch(PIPELINES, "team-a", "a", {"status": {"phase": "Hacked"}, "spec": {"x": 1}})
    assert kept["status"] == {"phase": "Pending", "step": 1}
    patched = store.patch(
        PIPELINES,
        "team-a",
        "a",
        {"status": {"phase": "Running"}, "spec": {"y": 2}},
        subresource="status",
    )
    assert patched["status"] == {"phase": "Running", "step": 1}
    assert "y" not in patched["spec"]
    assert patched["metadata"]["generation"] == 2  # from the spec patch before, not this one
    gone = store.patch(PIPELINES, "team-a", "a", {"status": None}, subresource="status")
    assert "status" not in gone


def test_status_patch_without_status_changes_nothing(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a", status={"startTime": None}))
    assert (
        store.patch(PIPELINES, "team-a", "a", {"spec": {"x": 1}}, subresource="status") == created
    )
    assert store.patch(PIPELINES, "team-a", "a", {"status": {}}, subresource="status") == created


def test_a_namespace_must_be_a_string(store: ResourceStore) -> None:
    with pytest.raises(Invalid, match=r"metadata\.namespace"):
        store.create(PIPELINES, {"metadata": {"generateName": "x-", "namespace": 5}})


def test_patch_resource_version_is_a_precondition(store: ResourceStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    version = created["metadata"]["resourceVersion"]
    precondition = {"metadata": {"resourceVersion": version}, "spec": {"description": "x"}}
    ok = store.patch(PIPELINES, "team-a", "a", precondition)
    assert rv(ok) == rv(created) + 1
    with pytest.raises(Conflict):
        stale = {"metadata": created["metadata"], "spec": {"description": "y"}}
        store.patch(PIPELINES, "team-a", "a", stale)


def test_patch_refuses_renames_and_unknown_subresources(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    with pytest.raises(BadRequest, match="name or namespace"):
        store.patch(PIPELINES, "team-a", "a", {"metadata": {"name": "b"}})
    with pytest.raises(BadRequest, match="scale"):
        store.patch(PIPELINES, "team-a", "a", {}, subresource="scale")
    with pytest.raises(NotFound):
        store.patch(PIPELINES, "team-a", "ghost", {"spec": {}})


# ---- delete and finalizers -------------------------------------------------------------


def test_delete_without_finalizers_removes_and_reports_last_state(
    store: ResourceStore, head: int
) -> None:
    store.create(PIPELINES, pipeline("a"))
    deleted = store.delete(PIPELINES, "team-a", "a")
    assert rv(deleted) == head + 2
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")
    event = store.events_since(head + 1)[0]
    assert (event.type, event.resource_version, event.object) == ("DELETED", head + 2, deleted)
    with pytest.raises(NotFound):
        store.delete(PIPELINES, "team-a", "a")


def test_delete_with_finalizers_marks_and_update_completes_it(
    store: ResourceStore, clock: FakeClock
) -> None:
    store.create(PIPELINES, pipeline("a", meta={"finalizers": ["mlkube.io/cleanup"]}))
    clock.advance(90)
    marked = store.delete(PIPELINES, "team-a", "a")
    meta = marked["metadata"]
    assert meta["deletionTimestamp"] == "2026-01-01T00:01:30Z"
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2
    assert store.get(PIPELINES, "team-a", "a") == marked
    assert store.delete(PIPELINES, "team-a", "a") == marked  # again: nothing happens
    assert store.current_resource_version() == 2
    # A client cannot clear the deletion mark by sending an object without it.
    relabelled = store.update(
        PIPELINES,
        pipeline("a", meta={"finalizers": ["mlkube.io/cleanup"], "labels": {"x": "y"}}),
    )
    assert relabelled["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    done = store.update(
        PIPELINES, {**relabelled, "metadata": {**relabelled["metadata"], "finalizers": []}}
    )
    assert rv(done) == 4
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")
    assert [e.type for e in store.events_since(0)] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]


def test_patch_that_clears_finalizers_deletes(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"finalizers": ["f"]}))
    store.delete(PIPELINES, "team-a", "a")
    last = store.patch(PIPELINES, "team-a", "a", {"metadata": {"finalizers": None}})
    assert "finalizers" not in last["metadata"]
    assert store.list(PIPELINES)[0] == []


def test_clearing_finalizers_of_a_live_object_just_updates(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"finalizers": ["f"]}))
    updated = store.patch(PIPELINES, "team-a", "a", {"metadata": {"finalizers": []}})
    assert updated["metadata"]["finalizers"] == []
    assert store.get(PIPELINES, "team-a", "a") == updated


def test_delete_precondition(store: ResourceStore, head: int) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    with pytest.raises(Conflict):
        store.delete(PIPELINES, "team-a", "a", resource_version=str(head + 7))
    version = created["metadata"]["resourceVersion"]
    assert rv(store.delete(PIPELINES, "team-a", "a", resource_version=version)) == head + 2


def test_delete_collection_honours_namespace_selector_and_finalizers(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("plain"))
    store.create(PIPELINES, pipeline("held", meta={"finalizers": ["f"]}))
    store.create(PIPELINES, pipeline("kept", meta={"labels": {"keep": "yes"}}))
    store.create(PIPELINES, pipeline("elsewhere", ns="team-b"))
    results = store.delete_collection(PIPELINES, "team-a", label_selector="!keep")
    assert [o["metadata"]["name"] for o in results] == ["held", "plain"]
    remaining = [o["metadata"]["name"] for o in store.list(PIPELINES)[0]]
    assert remaining == ["held", "kept", "elsewhere"]
    assert "deletionTimestamp" in store.get(PIPELINES, "team-a", "held")["metadata"]
    assert store.delete_collection(PIPELINES, "nowhere") == []
    everywhere = store.delete_collection(PIPELINES, None, label_selector="keep")
    assert [o["metadata"]["name"] for o in everywhere] == ["kept"]


# ---- events ----------------------------------------------------------------------------


def test_events_since_returns_ordered_filtered_events(store: ResourceStore, head: int) -> None:
    a = store.create(PIPELINES, pipeline("a"))
    store.create(PIPELINES, pipeline("b", ns="team-b"))
    store.create(NAMESPACES, {"metadata": {"name": "fresh"}})
    store.update(PIPELINES, {**a, "spec": spec(description="eval")})
    everything = store.events_since(head)
    assert [(e.type, e.resource_version - head) for e in everything] == [
        ("ADDED", 1),
        ("ADDED", 2),
        ("ADDED", 3),
        ("MODIFIED", 4),
    ]

    def versions(after: int, **filters: Any) -> list[int]:
        return [e.resource_version - head for e in store.events_since(head + after, **filters)]

    assert versions(0, resource=PIPELINES) == [1, 2, 4]
    assert versions(1, resource=PIPELINES, namespace="team-a") == [4]
    assert versions(0, limit=2) == [1, 2]
    assert store.events_since(head + 4) == []
    assert everything[3].object["spec"] == spec(description="eval")


def test_selector_events_follow_objects_in_and_out_of_the_selection(
    store: ResourceStore, head: int
) -> None:
    obj = store.create(PIPELINES, pipeline("a", meta={"labels": {"tier": "gold"}}))
    for tier in ("silver", "gold"):
        obj = store.update(
            PIPELINES, {**obj, "metadata": {**obj["metadata"], "labels": {"tier": tier}}}
        )
    store.create(PIPELINES, pipeline("b", meta={"labels": {"tier": "silver"}}))
    store.delete(PIPELINES, "team-a", "a")
    events = store.events_since(head, label_selector="tier=gold")
    assert [(e.type, e.resource_version - head) for e in events] == [
        ("ADDED", 1),
        ("DELETED", 2),  # stopped matching
        ("ADDED", 3),  # matches again
        ("DELETED", 5),
    ]


def test_a_selector_never_hides_matches_behind_the_limit(store: ResourceStore, head: int) -> None:
    for i in range(30):
        store.create(PIPELINES, pipeline(f"noise-{i}"))
    store.create(PIPELINES, pipeline("wanted", meta={"labels": {"want": "yes"}}))
    events = store.events_since(head, label_selector="want", limit=5)
    assert [e.object["metadata"]["name"] for e in events] == ["wanted"]


def test_compacted_history_raises_expired(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 3)
    try:
        for i in range(6):
            store.create(PIPELINES, pipeline(f"r{i}"))
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
    created = store.create(PIPELINES, pipeline("a"))
    store.update(PIPELINES, created)  # no change, no write, no call
    store.delete(PIPELINES, "team-a", "a")
    unsubscribe()
    unsubscribe()
    store.create(PIPELINES, pipeline("b"))
    assert heard == [(1, 1), (2, 2)]


def test_a_failing_subscriber_never_breaks_a_write(
    store: ResourceStore, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[int] = []

    def broken(version: int) -> None:
        raise RuntimeError("boom")

    store.subscribe(broken)
    store.subscribe(heard.append)
    created = store.create(PIPELINES, pipeline("a"))
    assert store.get(PIPELINES, "team-a", "a") == created
    assert heard == [1]
    assert "boom" in caplog.text


def test_watch_delivers_events_after_the_version(store: ResourceStore) -> None:
    store.create(PIPELINES, pipeline("old"))
    _, version = store.list(PIPELINES)
    store.create(NAMESPACES, {"metadata": {"name": "ignored"}})
    store.create(PIPELINES, pipeline("new"))
    with store.watch(PIPELINES, resource_version=version) as watch:
        event = watch.next(timeout=0)
        assert event is not None
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "new")
        assert watch.next(timeout=0) is None
    assert watch.closed
    assert watch.next(timeout=0) is None


def test_watch_wakes_on_a_write_from_another_thread(store: ResourceStore, head: int) -> None:
    watch = store.watch(PIPELINES, "team-a", resource_version=head, label_selector="app=x")
    writer = threading.Thread(
        target=store.create, args=(PIPELINES, pipeline("a", meta={"labels": {"app": "x"}}))
    )
    writer.start()
    event = watch.next(timeout=10)
    writer.join()
    watch.close()
    assert event is not None and event.object["metadata"]["name"] == "a"


def test_watch_iteration_ends_when_closed_from_another_thread(
    store: ResourceStore, head: int
) -> None:
    store.create(PIPELINES, pipeline("a"))
    watch = store.watch(PIPELINES, resource_version=head)
    seen: list[WatchEvent] = []
    for event in watch:
        seen.append(event)
        threading.Thread(target=watch.close).start()
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


def test_watch_rejects_a_bad_selector_at_once(store: ResourceStore) -> None:
    with pytest.raises(BadRequest):
        store.watch(PIPELINES, resource_version=0, label_selector="a in b")


def test_watch_raises_expired_and_closes(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 2)
    try:
        watch = store.watch(PIPELINES, resource_version=0)
        for i in range(4):
            store.create(PIPELINES, pipeline(f"r{i}"))
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
        watch = store.watch(PIPELINES, resource_version=0)
        for i in range(5):
            store.create(NAMESPACES, {"metadata": {"name": f"n{i}"}})
            assert watch.next(timeout=0) is None
        store.create(PIPELINES, pipeline("a"))
        event = watch.next(timeout=0)
        assert event is not None and event.resource_version == 6
    finally:
        store.close()


def test_a_closed_store_refuses_calls(backend: str, tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(backend, tmp_path, clock, 10)
    store.close()
    store.close()
    with pytest.raises(ServiceUnavailable):
        store.get(PIPELINES, "team-a", "a")
    with pytest.raises(ServiceUnavailable):
        store.create(PIPELINES, pipeline("a"))
