"""`KubernetesStore` against the embedded platform's Kubernetes-style API, through the
official client: the store contract's behaviours, as far as a real API server allows.

The contract tests (`tests/contract/test_store_contract.py`) run here unchanged, picking up
this module's `store` and `head` fixtures, except those in `EXCLUDED`, each with its reason
and mostly re-stated below: the server is shared (its own boot writes take versions), keeps
`status` as a subresource the controllers write, words some errors its own way, defaults
fields, and has no fake clock or adjustable event retention. The other tests below check what
only this store has: kinds filled in, `Status` bodies, polling for other clients' writes.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from mlkube.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from mlkube.server.embedded import EmbeddedPlatform
from mlkube.store.kube_http import error_from_response
from mlkube.store.kube_watch import VersionPoller
from mlkube.store.kubernetes import KubernetesStore
from tests.contract import test_store_contract as contract
from tests.contract.test_store_contract import (
    NAMESPACES,
    PIPELINES,
    RUNS,
    SPEC,
    pipeline,
    rv,
    test_a_namespace_must_be_a_string,
    test_a_selector_never_hides_matches_behind_the_limit,
    test_bad_limit_is_refused,
    test_clearing_finalizers_of_a_live_object_just_updates,
    test_cluster_scoped_objects_have_no_namespace,
    test_create_ignores_client_sent_server_fields,
    test_create_neither_mutates_its_argument_nor_shares_the_result,
    test_create_twice_raises_already_exists,
    test_delete_collection_honours_namespace_selector_and_finalizers,
    test_delete_precondition,
    test_delete_without_finalizers_removes_and_reports_last_state,
    test_events_since_returns_ordered_filtered_events,
    test_generate_name_appends_five_random_characters,
    test_generation_moves_only_when_spec_changes,
    test_get_missing_raises_not_found_with_kubernetes_message,
    test_list_filters_by_label_selector,
    test_list_sorts_by_namespace_then_name_and_returns_the_version,
    test_patch_resource_version_is_a_precondition,
    test_resource_version_is_one_global_counter,
    test_selector_events_follow_objects_in_and_out_of_the_selection,
    test_update_missing_raises_not_found,
    test_update_of_a_recreated_object_conflicts_on_uid,
    test_update_with_stale_resource_version_conflicts,
    test_update_without_resource_version_is_unconditional,
    test_values_json_cannot_hold_are_refused,
    test_watch_delivers_events_after_the_version,
    test_watch_iteration_ends_when_closed_from_another_thread,
    test_watch_rejects_a_bad_selector_at_once,
    test_watch_wakes_on_a_write_from_another_thread,
)
from tests.integration.platform.conftest import platform, wait_for

__all__ = [
    "platform",
    "test_a_namespace_must_be_a_string",
    "test_a_selector_never_hides_matches_behind_the_limit",
    "test_bad_limit_is_refused",
    "test_clearing_finalizers_of_a_live_object_just_updates",
    "test_cluster_scoped_objects_have_no_namespace",
    "test_create_ignores_client_sent_server_fields",
    "test_create_neither_mutates_its_argument_nor_shares_the_result",
    "test_create_twice_raises_already_exists",
    "test_delete_collection_honours_namespace_selector_and_finalizers",
    "test_delete_precondition",
    "test_delete_without_finalizers_removes_and_reports_last_state",
    "test_events_since_returns_ordered_filtered_events",
    "test_generate_name_appends_five_random_characters",
    "test_generation_moves_only_when_spec_changes",
    "test_get_missing_raises_not_found_with_kubernetes_message",
    "test_list_filters_by_label_selector",
    "test_list_sorts_by_namespace_then_name_and_returns_the_version",
    "test_patch_resource_version_is_a_precondition",
    "test_resource_version_is_one_global_counter",
    "test_selector_events_follow_objects_in_and_out_of_the_selection",
    "test_update_missing_raises_not_found",
    "test_update_of_a_recreated_object_conflicts_on_uid",
    "test_update_with_stale_resource_version_conflicts",
    "test_update_without_resource_version_is_unconditional",
    "test_values_json_cannot_hold_are_refused",
    "test_watch_delivers_events_after_the_version",
    "test_watch_iteration_ends_when_closed_from_another_thread",
    "test_watch_rejects_a_bad_selector_at_once",
    "test_watch_wakes_on_a_write_from_another_thread",
]

REUSED = {name for name in __all__ if name.startswith("test_")}

# Contract tests not run here, each re-stated below unless the reason says otherwise.
EXCLUDED = {
    "test_create_sets_server_fields_from_the_clock": "fake clock",
    "test_create_without_a_name_is_invalid": "the server words the message differently",
    "test_same_name_in_other_namespace_or_resource_is_fine": "a pipeline sent as a run (not "
    "re-stated: test_resource_version_is_one_global_counter reuses a name in another namespace)",
    "test_update_keeps_status_and_server_fields": "fake clock; status sent on create",
    "test_an_update_that_changes_nothing_writes_nothing": "status sent on create, which the "
    "server drops (re-stated as test_writes_that_change_nothing_write_nothing)",
    "test_true_is_not_one_for_change_detection": "needs schema-less spec values (not re-stated)",
    "test_update_status_replaces_only_status": "free-form status; controllers act on runs",
    "test_update_status_without_status_clears_it": "the server defaults an absent status "
    "(not re-stated)",
    "test_patch_merges_and_null_removes": "the server defaults the field the patch removes",
    "test_patch_ignores_status_unless_on_the_status_subresource": "free-form status",
    "test_status_patch_without_status_changes_nothing": "free-form status (re-stated within "
    "test_writes_that_change_nothing_write_nothing)",
    "test_patch_refuses_renames_and_unknown_subresources": "the server words the refusal of a "
    "rename differently",
    "test_delete_with_finalizers_marks_and_update_completes_it": "fake clock",
    "test_patch_that_clears_finalizers_deletes": "the server keeps an empty finalizers list",
    "test_compacted_history_raises_expired": "needs a store with 3-event retention (not "
    "re-stated: the server's retention is fixed; the 410 mapping is checked directly)",
    "test_subscribers_hear_each_write_after_commit": "the fixture's store also polls, so it "
    "may hear a write a second time (re-stated with a store that does not poll in time)",
    "test_a_failing_subscriber_never_breaks_a_write": "the fixture's store also polls, so it "
    "may hear a write a second time",
    "test_watch_raises_expired_and_closes": "needs 2-event retention (not re-stated)",
    "test_a_quiet_watch_does_not_expire_while_others_write": "needs 2-event retention (not "
    "re-stated)",
    "test_a_closed_store_refuses_calls": "builds SQLite/memory stores itself",
}

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def api(platform: EmbeddedPlatform, tmp_path: Path) -> Iterator[client.ApiClient]:
    ca = tmp_path / "ca.pem"
    assert platform.ca_pem is not None, "the platform fixture serves HTTPS"
    ca.write_bytes(platform.ca_pem)
    configuration = client.Configuration()
    configuration.host = platform.url
    configuration.api_key = {"BearerToken": platform.admin_token()}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.ssl_ca_cert = str(ca)
    with client.ApiClient(configuration) as api_client:
        yield api_client
        # Drop kept-alive connections before the platform stops, so none is left dangling.
        api_client.rest_client.pool_manager.clear()


@pytest.fixture
def store(api: client.ApiClient) -> Iterator[KubernetesStore]:
    """The store, with the namespaces the contract tests use."""
    s = KubernetesStore(api, poll_interval=0.1)
    for ns in ("team-a", "team-b", "team-c"):
        s.create(NAMESPACES, {"metadata": {"name": ns}})
    yield s
    s.close()


@pytest.fixture
def head(store: KubernetesStore) -> int:
    """The server's resource version once the `store` fixture is set up."""
    return store.current_resource_version()


def settled_run(store: KubernetesStore, name: str) -> dict[str, Any]:
    """A run the controllers are done with: its pipeline is missing, so it failed at once.

    The server drops `status` on create (a subresource) and the run controller writes it;
    waiting for a finished phase leaves the status tests alone with the object."""
    store.create(
        RUNS,
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"pipelineRef": {"name": "missing"}},
        },
    )

    def finished() -> dict[str, Any] | None:
        obj = store.get(RUNS, "team-a", name)
        return obj if obj["status"]["phase"] in ("Succeeded", "Failed", "Cancelled") else None

    settled: dict[str, Any] = wait_for(finished, what=f"run {name} to fail")
    return settled


def with_meta(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], **meta}}


def test_every_contract_test_is_reused_or_excluded_by_name() -> None:
    functions = inspect.getmembers(contract, inspect.isfunction)
    names = {name for name, _ in functions if name.startswith("test_")}
    assert names == REUSED | set(EXCLUDED)
    assert not REUSED & set(EXCLUDED)


# ---- create ----------------------------------------------------------------------------


def test_create_sets_server_fields(store: KubernetesStore, head: int) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    meta = created["metadata"]
    assert TIMESTAMP.match(meta["creationTimestamp"])
    assert meta["generation"] == 1 and rv(created) == head + 1
    assert len(meta["uid"]) == 36
    assert created["spec"] == SPEC
    assert store.get(PIPELINES, "team-a", "a") == created


def test_create_without_a_name_is_invalid(store: KubernetesStore) -> None:
    with pytest.raises(Invalid, match=r"metadata\.name: Required value"):
        store.create(PIPELINES, {**pipeline("x"), "metadata": {"namespace": "team-a"}})


def test_invalid_objects_carry_causes(store: KubernetesStore) -> None:
    bad = {**pipeline("b"), "spec": {"steps": "x"}}
    with pytest.raises(Invalid) as err:
        store.create(PIPELINES, bad)
    assert [c.field for c in err.value.causes] == ["spec.steps"]


def test_answers_carry_api_version_and_kind(store: KubernetesStore, head: int) -> None:
    namespace = store.create(NAMESPACES, {"metadata": {"name": "fresh"}})
    assert (namespace["apiVersion"], namespace["kind"]) == ("v1", "Namespace")
    bare = {k: v for k, v in pipeline("a").items() if k not in ("apiVersion", "kind")}
    store.create(PIPELINES, bare)
    items, _ = store.list(PIPELINES)
    assert {(o["apiVersion"], o["kind"]) for o in items} == {("mlkube.io/v1alpha1", "Pipeline")}
    events = store.events_since(head)
    assert [e.object["kind"] for e in events] == ["Namespace", "Pipeline"]


# ---- update and status -----------------------------------------------------------------


def test_writes_that_change_nothing_write_nothing(store: KubernetesStore) -> None:
    created = settled_run(store, "a")
    head = store.current_resource_version()
    assert store.update(RUNS, created) == created
    assert store.update_status(RUNS, created) == created
    assert store.patch(RUNS, "team-a", "a", {"spec": {"pipelineRef": {"name": "missing"}}}) == (
        created
    )
    assert store.patch(RUNS, "team-a", "a", {"spec": {"x": 1}}, subresource="status") == created
    assert store.current_resource_version() == head
    assert store.events_since(head) == []


def test_update_status_replaces_only_status(store: KubernetesStore) -> None:
    created = settled_run(store, "a")
    status = {**created["status"], "phase": "Succeeded"}
    sent = {**created, "spec": {"pipelineRef": {"name": "hacked"}}, "status": status}
    sent["metadata"] = {**created["metadata"], "labels": {"hacked": "yes"}}
    updated = store.update_status(RUNS, sent)
    assert updated["status"]["phase"] == "Succeeded"
    assert updated["spec"] == created["spec"]
    assert updated["metadata"].get("labels") == created["metadata"].get("labels")
    assert updated["metadata"]["generation"] == created["metadata"]["generation"]
    assert rv(updated) == rv(created) + 1
    with pytest.raises(Conflict):
        store.update_status(RUNS, {**created, "status": {"phase": "Cancelled"}})


def test_update_keeps_status_and_server_fields(store: KubernetesStore) -> None:
    created = settled_run(store, "a")
    sent = {**created, "spec": {"pipelineRef": {"name": "other"}}}
    sent["status"] = {**created["status"], "phase": "Succeeded"}
    sent["metadata"] = {
        **created["metadata"],
        "creationTimestamp": "1999-01-01T00:00:00Z",
        "generation": 40,
        "uid": None,
    }
    updated = store.update(RUNS, sent)
    assert updated["status"] == created["status"]
    for key in ("uid", "creationTimestamp"):
        assert updated["metadata"][key] == created["metadata"][key]
    assert updated["metadata"]["generation"] == created["metadata"]["generation"] + 1


# ---- patch -----------------------------------------------------------------------------


def test_patch_merges_and_null_removes(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"labels": {"a": "1", "b": "2"}}))
    patched = store.patch(
        PIPELINES,
        "team-a",
        "a",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"description": None}},
    )
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"]["description"] == ""  # removed, then defaulted by the server
    assert patched["metadata"]["generation"] == 2


def test_patch_ignores_status_unless_on_the_status_subresource(store: KubernetesStore) -> None:
    created = settled_run(store, "a")
    kept = store.patch(RUNS, "team-a", "a", {"status": {"phase": "Succeeded"}})
    assert kept["status"]["phase"] == "Failed"
    patched = store.patch(
        RUNS,
        "team-a",
        "a",
        {"status": {"queue": "q1"}, "spec": {"pipelineRef": {"name": "other"}}},
        subresource="status",
    )
    assert (patched["status"]["phase"], patched["status"]["queue"]) == ("Failed", "q1")
    assert patched["spec"]["pipelineRef"] == {"name": "missing"}
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]


def test_patch_refuses_renames_and_unknown_subresources(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    with pytest.raises(BadRequest, match="cannot be changed"):
        store.patch(PIPELINES, "team-a", "a", {"metadata": {"name": "b"}})
    with pytest.raises(BadRequest, match="scale"):
        store.patch(PIPELINES, "team-a", "a", {}, subresource="scale")
    with pytest.raises(NotFound):
        store.patch(PIPELINES, "team-a", "ghost", {"spec": {}})


# ---- delete and finalizers -------------------------------------------------------------


def test_delete_with_finalizers_marks_and_update_completes_it(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a", meta={"finalizers": ["mlkube.io/cleanup"]}))
    marked = store.delete(PIPELINES, "team-a", "a")
    meta = marked["metadata"]
    assert TIMESTAMP.match(meta["deletionTimestamp"])
    assert (meta["deletionGracePeriodSeconds"], meta["generation"]) == (0, 2)
    assert store.get(PIPELINES, "team-a", "a") == marked
    assert store.delete(PIPELINES, "team-a", "a") == marked  # again: nothing happens
    relabelled = store.update(
        PIPELINES, pipeline("a", meta={"finalizers": ["mlkube.io/cleanup"], "labels": {"x": "y"}})
    )
    assert relabelled["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    done = store.update(PIPELINES, with_meta(relabelled, finalizers=[]))
    assert rv(done) == rv(created) + 3
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")
    events = store.events_since(rv(created) - 1, resource=PIPELINES)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]


def test_patch_that_clears_finalizers_deletes(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a", meta={"finalizers": ["f"]}))
    store.delete(PIPELINES, "team-a", "a")
    last = store.patch(PIPELINES, "team-a", "a", {"metadata": {"finalizers": None}})
    assert not last["metadata"].get("finalizers")
    assert store.list(PIPELINES)[0] == []


def test_delete_collection_of_namespaces_deletes_each(store: KubernetesStore) -> None:
    for name in ("gone-1", "gone-2"):
        store.create(NAMESPACES, {"metadata": {"name": name, "labels": {"gone": "yes"}}})
    results = store.delete_collection(NAMESPACES, None, label_selector="gone")
    assert [o["metadata"]["name"] for o in results] == ["gone-1", "gone-2"]
    assert all("deletionTimestamp" in o["metadata"] for o in results)  # namespace finalizer
    wait_for(
        lambda: store.list(NAMESPACES, label_selector="gone")[0] == [],
        what="the namespace controller to finish the deletions",
    )


# ---- events ----------------------------------------------------------------------------


def test_version_zero_starts_with_the_current_objects(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    events = store.events_since(0, resource=PIPELINES)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_gone_maps_to_expired() -> None:
    status = {"kind": "Status", "code": 410, "reason": "Gone", "message": "too old: 2 (3)"}
    assert isinstance(error_from_response(410, "Gone", str(status).replace("'", '"')), Expired)
    assert isinstance(error_from_response(410, "Gone", b"not json"), Expired)
    err = error_from_response(409, "Conflict", b'{"kind": "Status", "reason": "AlreadyExists"}')
    assert isinstance(err, AlreadyExists)


# ---- subscribe and watch ---------------------------------------------------------------


def test_subscribers_hear_each_write_after_commit(api: client.ApiClient) -> None:
    store = KubernetesStore(api, poll_interval=60)  # own writes only in this test
    heard: list[tuple[int, int]] = []

    def callback(version: int) -> None:
        # Runs outside any lock: calling the store here must not deadlock.
        heard.append((version, store.current_resource_version()))

    unsubscribe = store.subscribe(callback)
    created = store.create(PIPELINES, pipeline("a", ns="default"))
    store.update(PIPELINES, created)  # no change, no write, no call
    deleted = store.delete(PIPELINES, "default", "a")
    unsubscribe()
    unsubscribe()
    store.create(PIPELINES, pipeline("b", ns="default"))
    assert heard == [(rv(created), rv(created)), (rv(deleted), rv(deleted))]
    store.close()


def test_a_failing_subscriber_never_breaks_a_write(
    store: KubernetesStore, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[int] = []

    def broken(version: int) -> None:
        raise RuntimeError("boom")

    store.subscribe(broken)
    store.subscribe(heard.append)
    created = store.create(PIPELINES, pipeline("a"))
    assert store.get(PIPELINES, "team-a", "a") == created
    assert heard[0] == rv(created)
    assert "boom" in caplog.text


def test_subscribers_hear_writes_by_other_clients(
    store: KubernetesStore, api: client.ApiClient
) -> None:
    heard: list[int] = []
    woke = threading.Event()

    def callback(version: int) -> None:
        heard.append(version)
        woke.set()

    unsubscribe = store.subscribe(callback)
    other = KubernetesStore(api)
    created = other.create(PIPELINES, pipeline("a"))
    assert woke.wait(10)
    assert heard[-1] >= rv(created)
    unsubscribe()
    other.close()


def test_the_poll_does_not_repeat_a_version_the_store_delivered() -> None:
    server_head = [4]
    polled: list[int] = []
    heard: list[int] = []

    def read_head() -> int:
        polled.append(server_head[0])
        return server_head[0]

    poller = VersionPoller(read_head, heard.append, interval=0.01, start_version=0)
    try:
        wait_for(lambda: polled, what="the poller's baseline")
        poller.deliver(5)  # the store's own write, announced by its writer
        server_head[0] = 5
        wait_for(lambda: 5 in polled, what="a poll that sees version 5")
        server_head[0] = 6  # someone else's write
        wait_for(lambda: 6 in heard, what="the poll to announce version 6")
        assert heard == [5, 6]
    finally:
        poller.stop()


def test_a_closed_store_refuses_calls(api: client.ApiClient) -> None:
    store = KubernetesStore(api)
    store.close()
    store.close()
    with pytest.raises(ServiceUnavailable):
        store.get(PIPELINES, "team-a", "a")
    with pytest.raises(ServiceUnavailable):
        store.create(PIPELINES, pipeline("a"))
    with pytest.raises(ServiceUnavailable):
        store.events_since(0)


def test_logging_is_quiet_on_a_healthy_run(
    store: KubernetesStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mlkube.store.kubernetes")
    store.subscribe(lambda _v: None)()
    store.create(PIPELINES, pipeline("a"))
    assert not [r for r in caplog.records if r.name == "mlkube.store.kubernetes"]
