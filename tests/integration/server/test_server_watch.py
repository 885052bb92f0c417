"""Watches: newline-delimited JSON events, in order, resumable, expiring like Kubernetes'."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.platform.conftest import wait_for
from tests.integration.server.serverkit import TOKEN, Api, run, running_api

from mlkube.api.errors import Expired
from mlkube.sdk.client import Client

RUNS = "/apis/mlkube.io/v1alpha1/namespaces/team/pipelineruns"


def take(events: Iterator[tuple[str, dict[str, Any]]], count: int) -> list[tuple[str, str]]:
    """The first `count` events as (type, name); closing the iterator ends the watch."""
    seen = []
    for event_type, obj in events:
        seen.append((event_type, obj["metadata"]["name"]))
        if len(seen) == count:
            break
    return seen


def in_thread(api: Api, action: Callable[[Client], None]) -> threading.Thread:
    """Run `action` with its own client, in another thread, a moment after the watch starts."""

    def act() -> None:
        time.sleep(0.2)
        with Client(api.url, TOKEN) as client:
            action(client)

    thread = threading.Thread(target=act)
    thread.start()
    return thread


def add_modify_delete(client: Client) -> None:
    client.create(run("x"))
    client.patch("pr", "x", {"metadata": {"labels": {"step": "2"}}}, "team")
    client.delete("pr", "x", "team")


def create_run(name: str, namespace: str = "team") -> Callable[[Client], None]:
    def create(client: Client) -> None:
        client.create(run(name, namespace=namespace))

    return create


def test_a_watch_sees_changes_made_elsewhere_in_order(api: Api) -> None:
    writer = in_thread(api, add_modify_delete)
    events = take(api.client.watch("pr", "team", timeout_seconds=20), 3)
    writer.join()
    assert events == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]


def test_without_a_version_the_current_objects_come_first(api: Api) -> None:
    api.client.create(run("a"))
    api.client.create(run("b"))
    writer = in_thread(api, create_run("c"))
    events = take(api.client.watch("pr", "team", timeout_seconds=20), 3)
    writer.join()
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_a_watch_resumes_after_a_resource_version(api: Api) -> None:
    first = api.client.create(run("a"))
    api.client.patch("pr", "a", {"metadata": {"labels": {"v": "2"}}}, "team")
    api.client.create(run("b"))
    api.client.create(run("elsewhere", namespace="default"))
    since = first["metadata"]["resourceVersion"]
    events = list(api.client.watch("pr", "team", resource_version=since, timeout_seconds=1))
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("MODIFIED", "a"), ("ADDED", "b")]


def test_watch_from_a_list_misses_nothing(api: Api) -> None:
    api.client.create(run("a"))
    listed = api.client.list("pr", "team")
    api.client.create(run("b"))
    events = take(api.client.watch("pr", "team", resource_version=listed.resource_version), 1)
    assert events == [("ADDED", "b")]


def test_label_selected_watch(api: Api) -> None:
    api.client.create(run("gold", labels={"tier": "gold"}))
    api.client.create(run("silver", labels={"tier": "silver"}))
    api.client.patch("pr", "silver", {"metadata": {"labels": {"tier": "gold"}}}, "team")
    watch = api.client.watch("pr", "team", resource_version="1", label_selector="tier=gold")
    assert take(watch, 2) == [("ADDED", "gold"), ("ADDED", "silver")]


def test_the_wire_format_is_one_json_event_per_line(api: Api) -> None:
    api.client.create(run("a"))
    with api.http() as http:
        params = {"watch": "1", "timeoutSeconds": "1"}
        with http.stream("GET", RUNS, params=params) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "a")]
    assert lines[0]["object"]["kind"] == "PipelineRun"


def test_timeout_seconds_ends_a_quiet_watch(api: Api) -> None:
    started = time.monotonic()
    assert list(api.client.watch("pr", "team", resource_version="1", timeout_seconds=1)) == []
    assert 0.9 <= time.monotonic() - started < 5


def test_a_compacted_version_is_expired(tmp_path: Path) -> None:
    with running_api(tmp_path, event_retention=3) as api:
        for name in "abcdef":
            api.client.create(run(name))
        with api.http() as http:
            params = {"watch": "true", "resourceVersion": "1"}
            with http.stream("GET", RUNS, params=params) as response:
                lines = [json.loads(line) for line in response.iter_lines() if line]
        assert len(lines) == 1 and lines[0]["type"] == "ERROR"
        status = lines[0]["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        assert "too old resource version" in status["message"]
        with pytest.raises(Expired):
            list(api.client.watch("pr", "team", resource_version="1"))


def test_watches_of_namespaces_and_across_namespaces(api: Api) -> None:
    writer = in_thread(api, create_run("r", namespace="default"))
    assert take(api.client.watch("pr", None, timeout_seconds=20), 1) == [("ADDED", "r")]
    writer.join()
    assert take(api.client.watch("ns", timeout_seconds=20), 2) == [
        ("ADDED", "default"),
        ("ADDED", "team"),
    ]


def test_a_client_that_goes_away_ends_its_watch(api: Api) -> None:
    api.client.create(run("a"))
    with Client(api.url, TOKEN) as client:
        for event_type, _ in client.watch("pr", "team"):
            assert event_type == "ADDED"
            assert api.store.subscribers == 1, "the watch listens to the store while it runs"
            break
    wait_for(
        lambda: api.store.subscribers == 0, timeout=5, what="the server to let go of the store"
    )
