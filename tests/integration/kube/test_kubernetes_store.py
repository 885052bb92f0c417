"""`KubernetesStore` against the embedded platform's Kubernetes-style API, through the
official client: the store contract's behaviours, as far as a real API server allows.

Contract tests that run unchanged are imported from `tests/contract/test_store_contract.py`
(they pick up this module's `store` fixture). The rest are listed in `EXCLUDED` with the
reason, and re-stated below with valid objects and versions relative to the server's head:
the server is shared (its own boot writes take versions), validates every object as one of
our kinds, requires namespaces to exist, normalizes specs with defaults, and has no fake clock
or adjustable event retention.
"""

from __future__ import annotations

import inspect
import logging
import re
import string
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
from mlkube.store.base import WatchEvent
from mlkube.store.kube_http import error_from_response
from mlkube.store.kubernetes import KubernetesStore
from tests.contract import test_store_contract as contract
from tests.contract.test_store_contract import (
    test_a_namespace_must_be_a_string,
    test_bad_limit_is_refused,
    test_get_missing_raises_not_found_with_kubernetes_message,
    test_watch_rejects_a_bad_selector_at_once,
)
from tests.integration.platform.conftest import platform, wait_for

__all__ = [
    "platform",
    "test_a_namespace_must_be_a_string",
    "test_bad_limit_is_refused",
    "test_get_missing_raises_not_found_with_kubernetes_message",
    "test_watch_rejects_a_bad_selector_at_once",
]

REUSED = {name for name in __all__ if name.startswith("test_")}

# Contract tests not run as written, each re-stated below unless the reason says otherwise.
EXCLUDED = {
    "test_create_sets_server_fields_from_the_clock": "fake clock, absolute versions",
    "test_create_ignores_client_sent_server_fields": "its run spec is not a valid PipelineRun",
    "test_resource_version_is_one_global_counter": "the server's boot writes take versions",
    "test_create_neither_mutates_its_argument_nor_shares_the_result": "invalid run spec "
    "(re-stated in test_create_sets_server_fields; every answer is freshly parsed JSON)",
    "test_generate_name_appends_five_random_characters": "invalid run spec",
    "test_create_without_a_name_is_invalid": "the server words the message differently",
    "test_create_twice_raises_already_exists": "invalid run spec, absolute versions",
    "test_same_name_in_other_namespace_or_resource_is_fine": "a run body sent as a pipeline",
    "test_cluster_scoped_objects_have_no_namespace": "team-a exists already (the fixture)",
    "test_values_json_cannot_hold_are_refused": "absolute version 0",
    "test_list_sorts_by_namespace_then_name_and_returns_the_version": "absolute versions",
    "test_list_filters_by_label_selector": "invalid run spec",
    "test_update_with_stale_resource_version_conflicts": "invalid run spec",
    "test_update_without_resource_version_is_unconditional": "absolute versions",
    "test_update_keeps_status_and_server_fields": "fake clock; controllers act on runs",
    "test_generation_moves_only_when_spec_changes": "absolute versions",
    "test_an_update_that_changes_nothing_writes_nothing": "absolute versions",
    "test_true_is_not_one_for_change_detection": "needs schema-less spec values (not re-stated)",
    "test_update_missing_raises_not_found": "invalid run spec",
    "test_update_of_a_recreated_object_conflicts_on_uid": "invalid run spec",
    "test_update_status_replaces_only_status": "free-form status; controllers act on runs",
    "test_update_status_without_status_clears_it": "the server defaults an absent status "
    "(not re-stated)",
    "test_patch_merges_and_null_removes": "invalid run spec",
    "test_patch_ignores_status_unless_on_the_status_subresource": "free-form status",
    "test_status_patch_without_status_changes_nothing": "free-form status",
    "test_patch_resource_version_is_a_precondition": "absolute versions",
    "test_patch_refuses_renames_and_unknown_subresources": "invalid run spec",
    "test_delete_without_finalizers_removes_and_reports_last_state": "absolute versions",
    "test_delete_with_finalizers_marks_and_update_completes_it": "fake clock",
    "test_patch_that_clears_finalizers_deletes": "invalid run spec",
    "test_clearing_finalizers_of_a_live_object_just_updates": "invalid run spec",
    "test_delete_precondition": "absolute versions",
    "test_delete_collection_honours_namespace_selector_and_finalizers": "invalid run spec",
    "test_events_since_returns_ordered_filtered_events": "absolute versions",
    "test_selector_events_follow_objects_in_and_out_of_the_selection": "absolute versions",
    "test_a_selector_never_hides_matches_behind_the_limit": "invalid run spec",
    "test_compacted_history_raises_expired": "needs a store with 3-event retention (not "
    "re-stated: the server's retention is fixed; the 410 mapping is checked directly)",
    "test_subscribers_hear_each_write_after_commit": "absolute versions",
    "test_a_failing_subscriber_never_breaks_a_write": "invalid run spec",
    "test_watch_delivers_events_after_the_version": "invalid run spec",
    "test_watch_wakes_on_a_write_from_another_thread": "invalid run spec",
    "test_watch_iteration_ends_when_closed_from_another_thread": "invalid run spec",
    "test_watch_raises_expired_and_closes": "needs 2-event retention (not re-stated)",
    "test_a_quiet_watch_does_not_expire_while_others_write": "needs 2-event retention (not "
    "re-stated)",
    "test_a_closed_store_refuses_calls": "builds SQLite/memory stores itself",
}

PIPELINES = "pipelines.mlkube.io"
RUNS = "pipelineruns.mlkube.io"
NAMESPACES = "namespaces"
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
    s = KubernetesStore(api, poll_interval=0.1)
    for ns in ("team-a", "team-b"):
        s.create(NAMESPACES, {"metadata": {"name": ns}})
    yield s
    s.close()


def pipeline(name: str, ns: str = "team-a", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": ns, **meta},
        "spec": {"description": "first", "steps": [{"name": "say", "command": ["true"]}]},
    }


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


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def with_meta(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], **meta}}


def test_every_contract_test_is_reused_or_excluded_by_name() -> None:
    functions = inspect.getmembers(contract, inspect.isfunction)
    names = {name for name, _ in functions if name.startswith("test_")}
    assert names == REUSED | set(EXCLUDED)
    assert not REUSED & set(EXCLUDED)


# ---- create / get ---------------------------------------------------------------------


def test_create_sets_server_fields(store: KubernetesStore) -> None:
    head = store.current_resource_version()
    sent = pipeline("a", uid="mine", generation=7, deletionTimestamp="2020-01-01T00:00:00Z")
    created = store.create(PIPELINES, sent)
    meta = created["metadata"]
    assert TIMESTAMP.match(meta["creationTimestamp"])
    assert meta["generation"] == 1 and rv(created) == head + 1
    assert len(meta["uid"]) == 36 and meta["uid"] != "mine"
    assert "deletionTimestamp" not in meta
    assert created["spec"]["description"] == "first"
    assert sent["metadata"]["uid"] == "mine"  # the argument is untouched
    assert store.get(PIPELINES, "team-a", "a") == created
    assert store.current_resource_version() == head + 1


def test_versions_rise_across_resources_and_names_repeat_elsewhere(store: KubernetesStore) -> None:
    first = store.create(PIPELINES, pipeline("a"))
    second = store.create(NAMESPACES, {"metadata": {"name": "team-c"}})
    third = store.create(PIPELINES, pipeline("a", ns="team-b"))
    assert [rv(second), rv(third)] == [rv(first) + i for i in (1, 2)]


def test_generate_name_appends_five_random_characters(store: KubernetesStore) -> None:
    obj = pipeline("x")
    obj["metadata"] = {"generateName": "train-", "namespace": "team-a"}
    names = {store.create(PIPELINES, obj)["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5
    for name in names:
        assert name.startswith("train-") and len(name) == 11
        assert set(name[6:]) <= set(string.ascii_lowercase + string.digits)


def test_create_without_a_name_is_invalid(store: KubernetesStore) -> None:
    with pytest.raises(Invalid, match=r"metadata\.name: Required value"):
        store.create(PIPELINES, {**pipeline("x"), "metadata": {"namespace": "team-a"}})


def test_create_twice_raises_already_exists(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    head = store.current_resource_version()
    with pytest.raises(AlreadyExists) as err:
        store.create(PIPELINES, pipeline("a"))
    assert err.value.message == 'pipelines.mlkube.io "a" already exists'
    assert (err.value.group, err.value.name) == ("mlkube.io", "a")
    assert store.current_resource_version() == head


def test_invalid_objects_carry_causes(store: KubernetesStore) -> None:
    bad = {**pipeline("b"), "spec": {"steps": "x"}}
    with pytest.raises(Invalid) as err:
        store.create(PIPELINES, bad)
    assert [c.field for c in err.value.causes] == ["spec.steps"]


def test_cluster_scoped_objects_have_no_namespace(store: KubernetesStore) -> None:
    created = store.create(NAMESPACES, {"metadata": {"name": "team-c", "namespace": ""}})
    assert "namespace" not in created["metadata"]
    assert created["apiVersion"] == "v1"
    assert store.get(NAMESPACES, "", "team-c") == created


def test_values_json_cannot_hold_are_refused(store: KubernetesStore) -> None:
    head = store.current_resource_version()
    with pytest.raises(BadRequest, match="not valid JSON"):
        store.create(PIPELINES, {**pipeline("a"), "spec": {"when": object()}})
    with pytest.raises(BadRequest):
        store.create(PIPELINES, {**pipeline("a"), "spec": {"x": float("nan")}})
    assert store.current_resource_version() == head


# ---- list ------------------------------------------------------------------------------


def test_list_sorts_fills_kind_and_returns_the_version(store: KubernetesStore) -> None:
    for ns, name in [("team-b", "x"), ("team-a", "z"), ("team-a", "b")]:
        store.create(PIPELINES, pipeline(name, ns=ns))
    store.create(NAMESPACES, {"metadata": {"name": "other"}})
    items, version = store.list(PIPELINES)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("team-a", "b"),
        ("team-a", "z"),
        ("team-b", "x"),
    ]
    assert {(o["apiVersion"], o["kind"]) for o in items} == {("mlkube.io/v1alpha1", "Pipeline")}
    assert version == store.current_resource_version()
    assert [o["metadata"]["name"] for o in store.list(PIPELINES, "team-a")[0]] == ["b", "z"]
    assert store.list(PIPELINES, "nowhere") == ([], version)


def test_list_filters_by_label_selector(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a", labels={"team": "vision", "tier": "gold"}))
    store.create(PIPELINES, pipeline("b", labels={"team": "nlp"}))
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


def test_update_with_stale_resource_version_conflicts(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    assert store.update(PIPELINES, created) == created  # unchanged: no write
    store.update(PIPELINES, with_meta(created, labels={"x": "y"}))
    with pytest.raises(Conflict) as err:
        store.update(PIPELINES, with_meta(created, labels={"x": "z"}))
    assert err.value.message == (
        'Operation cannot be fulfilled on pipelines.mlkube.io "a": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )


def test_update_without_resource_version_is_unconditional(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    sent = pipeline("a", resourceVersion=None)
    sent["spec"]["description"] = "second"
    updated = store.update(PIPELINES, sent)
    assert updated["spec"]["description"] == "second"
    assert rv(updated) == rv(created) + 1
    assert updated["metadata"]["generation"] == 2


def test_generation_moves_only_when_spec_changes(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    relabelled = store.update(PIPELINES, with_meta(created, labels={"x": "y"}))
    assert relabelled["metadata"]["generation"] == 1
    assert rv(relabelled) == rv(created) + 1
    changed = {**relabelled, "spec": {**created["spec"], "description": "2nd"}}
    assert store.update(PIPELINES, changed)["metadata"]["generation"] == 2


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


def test_update_missing_raises_not_found(store: KubernetesStore) -> None:
    with pytest.raises(NotFound):
        store.update(PIPELINES, pipeline("ghost"))
    with pytest.raises(Invalid):
        store.update(PIPELINES, {"metadata": {}})


def test_update_of_a_recreated_object_conflicts_on_uid(store: KubernetesStore) -> None:
    old = store.create(PIPELINES, pipeline("a"))
    store.delete(PIPELINES, "team-a", "a")
    store.create(PIPELINES, pipeline("a"))
    with pytest.raises(Conflict, match="UID in precondition"):
        store.update(PIPELINES, with_meta(old, resourceVersion=None))


# ---- status ----------------------------------------------------------------------------


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
    store.create(PIPELINES, pipeline("a", labels={"a": "1", "b": "2"}))
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


def test_patch_resource_version_is_a_precondition(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    version = created["metadata"]["resourceVersion"]
    ok = store.patch(
        PIPELINES, "team-a", "a", {"metadata": {"resourceVersion": version, "labels": {"x": "1"}}}
    )
    assert rv(ok) == rv(created) + 1
    with pytest.raises(Conflict):
        stale = {"metadata": {"resourceVersion": version, "labels": {"x": "2"}}}
        store.patch(PIPELINES, "team-a", "a", stale)


def test_patch_refuses_renames_and_unknown_subresources(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a"))
    with pytest.raises(BadRequest, match="cannot be changed"):
        store.patch(PIPELINES, "team-a", "a", {"metadata": {"name": "b"}})
    with pytest.raises(BadRequest, match="scale"):
        store.patch(PIPELINES, "team-a", "a", {}, subresource="scale")
    with pytest.raises(NotFound):
        store.patch(PIPELINES, "team-a", "ghost", {"spec": {}})


# ---- delete and finalizers -------------------------------------------------------------


def test_delete_without_finalizers_removes_and_reports_last_state(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    deleted = store.delete(PIPELINES, "team-a", "a")
    assert rv(deleted) == rv(created) + 1
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")
    event = store.events_since(rv(created), resource=PIPELINES)[0]
    assert (event.type, event.resource_version, event.object) == ("DELETED", rv(deleted), deleted)
    with pytest.raises(NotFound):
        store.delete(PIPELINES, "team-a", "a")


def test_delete_with_finalizers_marks_and_update_completes_it(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a", finalizers=["mlkube.io/cleanup"]))
    marked = store.delete(PIPELINES, "team-a", "a")
    meta = marked["metadata"]
    assert TIMESTAMP.match(meta["deletionTimestamp"])
    assert (meta["deletionGracePeriodSeconds"], meta["generation"]) == (0, 2)
    assert store.get(PIPELINES, "team-a", "a") == marked
    assert store.delete(PIPELINES, "team-a", "a") == marked  # again: nothing happens
    relabelled = store.update(
        PIPELINES, pipeline("a", finalizers=["mlkube.io/cleanup"], labels={"x": "y"})
    )
    assert relabelled["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    done = store.update(PIPELINES, with_meta(relabelled, finalizers=[]))
    assert rv(done) == rv(created) + 3
    with pytest.raises(NotFound):
        store.get(PIPELINES, "team-a", "a")
    events = store.events_since(rv(created) - 1, resource=PIPELINES)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]


def test_patch_that_clears_finalizers_deletes(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a", finalizers=["f"]))
    store.delete(PIPELINES, "team-a", "a")
    last = store.patch(PIPELINES, "team-a", "a", {"metadata": {"finalizers": None}})
    assert not last["metadata"].get("finalizers")
    assert store.list(PIPELINES)[0] == []


def test_clearing_finalizers_of_a_live_object_just_updates(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("a", finalizers=["f"]))
    updated = store.patch(PIPELINES, "team-a", "a", {"metadata": {"finalizers": []}})
    assert updated["metadata"]["finalizers"] == []
    assert store.get(PIPELINES, "team-a", "a") == updated


def test_delete_precondition(store: KubernetesStore) -> None:
    created = store.create(PIPELINES, pipeline("a"))
    with pytest.raises(Conflict):
        store.delete(PIPELINES, "team-a", "a", resource_version=str(rv(created) + 100))
    version = created["metadata"]["resourceVersion"]
    assert rv(store.delete(PIPELINES, "team-a", "a", resource_version=version)) == rv(created) + 1


def test_delete_collection_honours_namespace_selector_and_finalizers(
    store: KubernetesStore,
) -> None:
    store.create(PIPELINES, pipeline("plain"))
    store.create(PIPELINES, pipeline("held", finalizers=["f"]))
    store.create(PIPELINES, pipeline("kept", labels={"keep": "yes"}))
    store.create(PIPELINES, pipeline("elsewhere", ns="team-b"))
    results = store.delete_collection(PIPELINES, "team-a", label_selector="!keep")
    assert [o["metadata"]["name"] for o in results] == ["held", "plain"]
    remaining = [o["metadata"]["name"] for o in store.list(PIPELINES)[0]]
    assert remaining == ["held", "kept", "elsewhere"]
    assert "deletionTimestamp" in store.get(PIPELINES, "team-a", "held")["metadata"]
    assert store.delete_collection(PIPELINES, "nowhere") == []
    everywhere = store.delete_collection(PIPELINES, None, label_selector="keep")
    assert [o["metadata"]["name"] for o in everywhere] == ["kept"]


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


def test_events_since_returns_ordered_filtered_events(store: KubernetesStore) -> None:
    start = store.current_resource_version()
    a = store.create(PIPELINES, pipeline("a"))
    store.create(PIPELINES, pipeline("b", ns="team-b"))
    store.create(NAMESPACES, {"metadata": {"name": "team-c"}})
    store.update(PIPELINES, with_meta(a, labels={"x": "y"}))
    everything = store.events_since(start)
    versions = [start + i for i in (1, 2, 3, 4)]
    assert [(e.type, e.resource_version) for e in everything] == list(
        zip(["ADDED", "ADDED", "ADDED", "MODIFIED"], versions, strict=True)
    )
    kinds = [e.object["kind"] for e in everything]
    assert kinds == ["Pipeline", "Pipeline", "Namespace", "Pipeline"]
    runs = store.events_since(start, resource=PIPELINES)
    assert [e.resource_version for e in runs] == [versions[0], versions[1], versions[3]]
    in_a = store.events_since(start + 1, resource=PIPELINES, namespace="team-a")
    assert [e.resource_version for e in in_a] == [versions[3]]
    assert [e.resource_version for e in store.events_since(start, limit=2)] == versions[:2]
    assert store.events_since(versions[3]) == []
    assert everything[3].object["metadata"]["labels"] == {"x": "y"}


def test_selector_events_follow_objects_in_and_out_of_the_selection(
    store: KubernetesStore,
) -> None:
    start = store.current_resource_version()
    obj = store.create(PIPELINES, pipeline("a", labels={"tier": "gold"}))
    for tier in ("silver", "gold"):
        obj = store.update(PIPELINES, with_meta(obj, labels={"tier": tier}))
    store.create(PIPELINES, pipeline("b", labels={"tier": "silver"}))
    store.delete(PIPELINES, "team-a", "a")
    events = store.events_since(start, resource=PIPELINES, label_selector="tier=gold")
    assert [(e.type, e.resource_version - start) for e in events] == [
        ("ADDED", 1),
        ("DELETED", 2),  # stopped matching
        ("ADDED", 3),  # matches again
        ("DELETED", 5),
    ]


def test_a_selector_never_hides_matches_behind_the_limit(store: KubernetesStore) -> None:
    start = store.current_resource_version()
    for i in range(10):
        store.create(PIPELINES, pipeline(f"noise-{i}"))
    store.create(PIPELINES, pipeline("wanted", labels={"want": "yes"}))
    events = store.events_since(start, label_selector="want", limit=2)
    assert [e.object["metadata"]["name"] for e in events] == ["wanted"]


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


def test_watch_delivers_events_after_the_version(store: KubernetesStore) -> None:
    store.create(PIPELINES, pipeline("old"))
    _, version = store.list(PIPELINES)
    store.create(NAMESPACES, {"metadata": {"name": "ignored"}})
    store.create(PIPELINES, pipeline("new"))
    with store.watch(PIPELINES, resource_version=version) as watch:
        event = watch.next(timeout=5)
        assert event is not None
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "new")
        assert watch.next(timeout=0) is None
    assert watch.closed
    assert watch.next(timeout=0) is None


def test_watch_wakes_on_a_write_from_another_thread(store: KubernetesStore) -> None:
    version = store.current_resource_version()
    watch = store.watch(PIPELINES, "team-a", resource_version=version, label_selector="app=x")
    writer = threading.Thread(
        target=store.create, args=(PIPELINES, pipeline("a", labels={"app": "x"}))
    )
    writer.start()
    event = watch.next(timeout=10)
    writer.join()
    watch.close()
    assert event is not None and event.object["metadata"]["name"] == "a"


def test_watch_iteration_ends_when_closed_from_another_thread(store: KubernetesStore) -> None:
    version = store.current_resource_version()
    store.create(PIPELINES, pipeline("a"))
    watch = store.watch(PIPELINES, resource_version=version)
    seen: list[WatchEvent] = []
    for event in watch:
        seen.append(event)
        threading.Thread(target=watch.close).start()
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


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
