"""Step logs over HTTP: whole, tailed, and followed until the step attempt ends."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tests.integration.server.serverkit import TOKEN, Api, run, step

from mlkube.api.errors import BadRequest, NotFound
from mlkube.sdk.client import Client

LOGS = "/apis/mlkube.io/v1alpha1/namespaces/team/pipelineruns/r/log"


def started_run(api: Api, *steps: dict[str, Any], phase: str = "Running") -> None:
    """Run `r` whose steps are all in `phase`, on their first attempt."""
    created = api.client.create(run("r", *steps))
    names = [s["name"] for s in created["spec"]["pipelineSpec"]["steps"]]
    created["status"] = {
        "phase": "Running",
        "steps": [{"name": n, "phase": phase, "attempts": 1} for n in names],
    }
    api.client.update_status(created)


def test_a_finished_steps_log(api: Api) -> None:
    started_run(api, phase="Succeeded")
    api.log_file("team", "r", "only", 1).write_text("one\ntwo\nthree\n")
    assert "".join(api.client.logs("r", step="only", namespace="team")) == "one\ntwo\nthree\n"
    assert "".join(api.client.logs("r", namespace="team")) == "one\ntwo\nthree\n", "its only step"
    assert "".join(api.client.logs("r", namespace="team", tail_lines=2)) == "two\nthree\n"
    with api.http() as http:
        response = http.get(LOGS, params={"step": "only", "attempt": "1"})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "one\ntwo\nthree\n"


def test_missing_logs_and_steps(api: Api) -> None:
    started_run(api, step("a"), step("b"), phase="Succeeded")
    api.log_file("team", "r", "a", 1).write_text("a\n")
    with pytest.raises(NotFound, match='no log for attempt 2 of step "a"'):
        "".join(api.client.logs("r", step="a", namespace="team", attempt=2))
    with pytest.raises(NotFound, match='no log for step "b"'):
        "".join(api.client.logs("r", step="b", namespace="team"))
    with pytest.raises(NotFound, match='has no step "c"'):
        "".join(api.client.logs("r", step="c", namespace="team"))
    with pytest.raises(BadRequest, match="choose one of: a, b"):
        "".join(api.client.logs("r", namespace="team"))
    with pytest.raises(NotFound, match=r'pipelineruns\.mlkube\.io "nope" not found'):
        "".join(api.client.logs("nope", step="a", namespace="team"))


def finish_later(api: Api, log: Any) -> threading.Thread:
    """Append to the log in steps, then mark the step Succeeded right after the last line."""

    def work() -> None:
        with Client(api.url, TOKEN) as client:
            for line in ("two\n", "three\n"):
                time.sleep(0.3)
                with log.open("a") as handle:
                    handle.write(line)
            status = {"status": {"steps": [{"name": "only", "phase": "Succeeded", "attempts": 1}]}}
            client.patch("pr", "r", status, "team", subresource="status")

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_follow_streams_until_the_step_finishes(api: Api) -> None:
    started_run(api)
    log = api.log_file("team", "r", "only", 1)
    log.write_text("one\n")
    writer = finish_later(api, log)
    chunks = list(api.client.logs("r", step="only", namespace="team", follow=True))
    writer.join()
    assert "".join(chunks) == "one\ntwo\nthree\n", "nothing written before the end is lost"
    assert len(chunks) >= 2, "the lines arrived as they were written"


def test_follow_ends_when_the_run_is_deleted(api: Api) -> None:
    started_run(api)
    api.log_file("team", "r", "only", 1).write_text("partial\n")

    def delete_later() -> None:
        time.sleep(0.3)
        with Client(api.url, TOKEN) as client:
            client.delete("pr", "r", "team")

    deleter = threading.Thread(target=delete_later)
    deleter.start()
    text = "".join(api.client.logs("r", step="only", namespace="team", follow=True))
    deleter.join()
    assert text == "partial\n"
