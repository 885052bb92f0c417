"""`kill -9` of the embedded process mid-run, then `mlkube up` again: nothing is lost."""

from __future__ import annotations

from pathlib import Path

from tests.integration.platform.conftest import (
    UpProcess,
    process_alive,
    py,
    run_body,
    step_of,
    wait_finished,
    wait_for,
)


def test_kill9_mid_run_resumes_without_rerunning_finished_steps(
    up: UpProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "nap.pid"
    with up.client() as client:
        client.create(
            run_body(
                "resume",
                [
                    py(
                        "first",
                        "add",
                        inputs=[{"name": "a", "value": 1}, {"name": "b", "value": 1}],
                    ),
                    py(
                        "nap",
                        "sleep",
                        inputs=[
                            {"name": "seconds", "value": 60},
                            {"name": "marker", "value": str(marker)},
                        ],
                        dependsOn=["first"],
                    ),
                    py(
                        "last",
                        "add",
                        inputs=[{"name": "a", "fromStep": "first"}, {"name": "b", "value": 1}],
                        dependsOn=["nap"],
                    ),
                ],
                cache=False,
            )
        )
        client.create(run_body("queued", [py("later", "noop")], cache=False))
        pid = int(
            wait_for(lambda: marker.exists() and marker.read_text(), what="the nap step to start")
        )
        before = client.get("pipelineruns", "resume")
    first_before = step_of(before, "first")
    assert first_before["phase"] == "Succeeded"

    up.kill9()
    # The step's process dies with the platform instead of running on untracked.
    wait_for(lambda: not process_alive(pid), timeout=10, what="the orphaned step to die")

    # Shorten the nap for the second attempt: the same run continues on restart.
    marker.unlink()
    up.start()
    with up.client() as client:
        wait_for(lambda: marker.exists(), timeout=30, what="the nap step to run again")
        obj = client.get("pipelineruns", "resume")
        nap = step_of(obj, "nap")
        assert nap["phase"] == "Running"
        assert nap["attempts"] == 1  # the interrupted attempt is not counted as a failure
        client.delete("pipelineruns", "resume")
        queued = wait_finished(client, "queued")
        assert queued["status"]["phase"] == "Succeeded"
    first_after = step_of(obj, "first")
    assert first_after["startTime"] == first_before["startTime"]
    assert first_after["attempts"] == 1
