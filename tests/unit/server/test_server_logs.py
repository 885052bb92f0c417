"""Pure parts of step logs: tailing, which step, and when a followed attempt is over."""

from __future__ import annotations

import io
from typing import Any

import pytest

from mlkube.api.errors import BadRequest, NotFound
from mlkube.server.logs import attempt_finished, attempt_to_follow, choose_step, tail_offset


def tail(data: bytes, lines: int, block: int = 4) -> bytes:
    handle = io.BytesIO(data)
    return data[tail_offset(handle, lines, block=block) :]


@pytest.mark.parametrize(
    ("data", "lines", "expected"),
    [
        (b"a\nb\nc\n", 1, b"c\n"),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\nb\nc", 5, b"a\nb\nc"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
        (b"\n\n\n", 2, b"\n\n"),
        (b"long line one\nlong line two\n", 1, b"long line two\n"),
    ],
)
def test_tail_lines(data: bytes, lines: int, expected: bytes) -> None:
    assert tail(data, lines) == expected
    assert tail(data, lines, block=1 << 16) == expected


def run(
    *steps: dict[str, Any], phase: str = "Running", spec_steps: tuple[str, ...] = ()
) -> dict[str, Any]:
    inline = {"steps": [{"name": n, "command": ["true"]} for n in spec_steps]}
    return {
        "metadata": {"name": "r"},
        "spec": {"pipelineSpec": inline} if spec_steps else {"pipelineRef": {"name": "p"}},
        "status": {"phase": phase, "steps": list(steps)},
    }


def test_the_step_may_be_omitted_only_when_there_is_one() -> None:
    assert choose_step(run(spec_steps=("train",)), None) == "train"
    with pytest.raises(BadRequest, match="choose one of: a, b"):
        choose_step(run(spec_steps=("a", "b")), None)
    with pytest.raises(BadRequest, match="not known yet"):
        choose_step(run(), None)


def test_an_unknown_step_is_not_found() -> None:
    with pytest.raises(NotFound, match='no step "c"'):
        choose_step(run(spec_steps=("a", "b")), "c")
    assert choose_step(run(), "c") == "c", "unknown steps pass when the run lists none yet"


def test_attempt_to_follow_is_the_latest_or_the_first() -> None:
    assert attempt_to_follow(run({"name": "a", "attempts": 3}), "a", None) == 3
    assert attempt_to_follow(run(), "a", None) == 1
    assert attempt_to_follow(run({"name": "a", "attempts": 3}), "a", 2) == 2


@pytest.mark.parametrize(
    ("step", "attempt", "finished"),
    [
        ({"name": "a", "phase": "Running", "attempts": 1}, 1, False),
        ({"name": "a", "phase": "Waiting", "attempts": 1}, 1, False),
        ({"name": "a", "phase": "Succeeded", "attempts": 1}, 1, True),
        ({"name": "a", "phase": "Failed", "attempts": 1}, 1, True),
        ({"name": "a", "phase": "Running", "attempts": 2}, 1, True),  # a later attempt runs
        ({"name": "a", "phase": "Pending", "attempts": 0}, 1, False),
    ],
)
def test_attempt_finished_by_step_status(
    step: dict[str, Any], attempt: int, finished: bool
) -> None:
    assert attempt_finished(run(step), "a", attempt) is finished


def test_attempt_finished_without_step_status_or_run() -> None:
    assert attempt_finished(None, "a", 1) is True
    assert attempt_finished(run(phase="Running"), "a", 1) is False
    assert attempt_finished(run(phase="Failed"), "a", 1) is True
