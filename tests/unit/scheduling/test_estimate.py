"""Start-time estimates: a replay of expected ends, tested with tables of plain data."""

from __future__ import annotations

import pytest

from mlkube.scheduling.estimate import Holder, Queued, StartEstimate, estimate_start

NOW = 1000.0
NODE = {"cpu": 4000, "gpu": 2000}


def held(name: str, cpu: int, ends_at: float | None, gpu: int = 0) -> Holder:
    return Holder(name, {"cpu": cpu, "gpu": gpu}, ends_at)


def queued(name: str, cpu: int, duration: float | None) -> Queued:
    return Queued(name, {"cpu": cpu}, duration)


@pytest.mark.parametrize(
    ("need", "running", "ahead", "expected"),
    [
        # Room now.
        ({"cpu": 1000}, [held("r/a", 2000, NOW + 60)], [], StartEstimate(NOW)),
        # Room when the one running step ends.
        ({"cpu": 3000}, [held("r/a", 2000, NOW + 240)], [], StartEstimate(NOW + 240, "r/a")),
        # Two end: the later end is the one that makes enough room.
        (
            {"cpu": 4000},
            [held("r/a", 2000, NOW + 60), held("r/b", 2000, NOW + 120)],
            [],
            StartEstimate(NOW + 120, "r/b"),
        ),
        # The earlier end is enough.
        (
            {"cpu": 2000},
            [held("r/a", 2000, NOW + 60), held("r/b", 2000, NOW + 120)],
            [],
            StartEstimate(NOW + 60, "r/a"),
        ),
        # Something ahead takes the first room for 100 s.
        (
            {"cpu": 4000},
            [held("r/a", 4000, NOW + 60)],
            [queued("q/x", 4000, 100)],
            StartEstimate(NOW + 160, "q/x"),
        ),
        # Something ahead that never fits does not hold the request back (best-effort FIFO).
        (
            {"cpu": 1000},
            [held("r/a", 2000, NOW + 60)],
            [queued("q/big", 5000, 10)],
            StartEstimate(NOW),
        ),
        # An overdue holder is expected to end any moment: now, naming it.
        ({"cpu": 4000}, [held("r/a", 2000, NOW - 30)], [], StartEstimate(NOW, None)),
        # A holder whose end is unknown, in the way.
        (
            {"cpu": 3000},
            [held("r/a", 2000, None)],
            [],
            StartEstimate(
                None,
                reason="waits for r/a, whose end cannot be estimated "
                "(no earlier successful run of the step and no timeout)",
            ),
        ),
        # An unknown end that is not in the way does not matter.
        (
            {"cpu": 2000},
            [held("r/a", 1000, None), held("r/b", 2000, NOW + 30)],
            [],
            StartEstimate(NOW + 30, "r/b"),
        ),
        # Something ahead of unknown duration takes the room that would have been ours.
        (
            {"cpu": 4000},
            [held("r/a", 4000, NOW + 60)],
            [queued("q/x", 1000, None)],
            StartEstimate(
                None,
                reason="waits for q/x, whose end cannot be estimated "
                "(no earlier successful run of the step and no timeout)",
            ),
        ),
        # More than the capacity in all: never.
        ({"cpu": 8000}, [], [], StartEstimate(None, reason="needs more cpu than there is in all")),
        # A dimension the node lacks.
        ({"tpu": 1}, [], [], StartEstimate(None, reason="needs more tpu than there is in all")),
        # GPUs bind, not CPUs.
        (
            {"cpu": 1000, "gpu": 1000},
            [held("r/a", 500, NOW + 500, gpu=1000), held("r/b", 500, NOW + 90, gpu=1000)],
            [],
            StartEstimate(NOW + 90, "r/b"),
        ),
    ],
)
def test_estimate(
    need: dict[str, int], running: list[Holder], ahead: list[Queued], expected: StartEstimate
) -> None:
    assert estimate_start(need, capacity=NODE, running=running, ahead=ahead, now=NOW) == expected


def test_several_limits_at_once() -> None:
    # The node has room at once, but the team's quota frees only when its own step ends.
    capacity = {"node/cpu": 8000, "quota/cpu": 2000}
    running = [
        Holder("team/train", {"node/cpu": 2000, "quota/cpu": 2000}, NOW + 300),
        Holder("other/job", {"node/cpu": 2000}, NOW + 30),
    ]
    got = estimate_start(
        {"node/cpu": 1000, "quota/cpu": 1000}, capacity=capacity, running=running, now=NOW
    )
    assert got == StartEstimate(NOW + 300, "team/train")


def test_many_unknowns_are_summarised() -> None:
    running = [held(f"r/{i}", 1000, None) for i in range(4)]
    got = estimate_start({"cpu": 1000}, capacity=NODE, running=running, now=NOW)
    assert got.at is None
    assert got.reason.startswith("waits for r/0, r/1, r/2 and 1 more,")
