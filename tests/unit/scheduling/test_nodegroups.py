"""The node-group autoscaler policy: scale-up by simulating pending pods on templates, gangs as
one unit, expanders, caps, and scale-down of nodes idle past the unneeded time."""

from __future__ import annotations

import pytest

from mlkube.scheduling.cluster import Task
from mlkube.scheduling.nodegroups import (
    GroupNode,
    NodeGroup,
    NodeTemplate,
    PendingWorkload,
    decide_node_groups,
)

A100x1 = NodeTemplate(8000, 65536, "A100", 1)
A100x4 = NodeTemplate(32000, 262144, "A100", 4)
CPU16 = NodeTemplate(16000, 65536)


def group(
    name: str, template: NodeTemplate, *, lo: int = 0, hi: int = 10, now: int = 0, upcoming: int = 0
) -> NodeGroup:
    return NodeGroup(name, template, lo, hi, now, upcoming)


def gpu_pods(key: str, count: int, gpus: int = 1, cpu: int = 4000) -> PendingWorkload:
    tasks = tuple(Task(f"{key}-{i}", cpu, 8192, gpus, 1000) for i in range(count))
    return PendingWorkload(key, tasks)


def cpu_pods(key: str, count: int, cpu: int = 4000) -> PendingWorkload:
    return PendingWorkload(key, tuple(Task(f"{key}-{i}", cpu, 4096) for i in range(count)))


SCALE_UP_CASES = [
    # (case, groups, pending, expected scale_up)
    ("one gpu pod, one node", [group("a", A100x1)], [gpu_pods("w", 1)], {"a": 1}),
    ("pods pack onto few nodes", [group("a", A100x4)], [gpu_pods("w", 3)], {"a": 1}),
    ("a gang of 6 needs 2 four-gpu nodes", [group("a", A100x4)], [gpu_pods("g", 6)], {"a": 2}),
    (
        "gang bigger than the room is not provisioned by half",
        [group("a", A100x1, hi=3)],
        [gpu_pods("g", 4)],
        {},
    ),
    (
        "gang that fits the room is, the one after it is not",
        [group("a", A100x1, hi=3)],
        [gpu_pods("g", 3), gpu_pods("h", 2)],
        {"a": 3},
    ),
    (
        "capped at max",
        [group("a", A100x1, hi=2)],
        [gpu_pods(f"w{i}", 1) for i in range(5)],
        {"a": 2},
    ),
    ("already at max", [group("a", A100x1, hi=2, now=2)], [gpu_pods("w", 1)], {}),
    (
        "least-waste keeps cpu work off gpu templates",
        [group("gpu", A100x4), group("cpu", CPU16)],
        [cpu_pods("c", 2)],
        {"cpu": 1},
    ),
    (
        "least-waste picks the template the pod fills best",
        [group("big", A100x4), group("small", A100x1)],
        [gpu_pods("w", 1, cpu=8000)],
        {"small": 1},
    ),
    (
        "mixed work grows two groups in one decision",
        [group("gpu", A100x1), group("cpu", CPU16)],
        [gpu_pods("g", 1, cpu=8000), cpu_pods("c", 1, cpu=16000)],
        {"gpu": 1, "cpu": 1},
    ),
    ("no template fits: nothing", [group("cpu", CPU16)], [gpu_pods("g", 1)], {}),
    ("below min is raised to min", [group("a", A100x1, lo=2)], [], {"a": 2}),
    (
        "upcoming nodes absorb pending work",
        [group("a", A100x1, now=2, upcoming=2)],
        [gpu_pods("w1", 1), gpu_pods("w2", 1), gpu_pods("w3", 1)],
        {"a": 1},
    ),
]


@pytest.mark.parametrize(
    ("case", "groups", "pending", "expected"), SCALE_UP_CASES, ids=[c[0] for c in SCALE_UP_CASES]
)
def test_scale_up(
    case: str, groups: list[NodeGroup], pending: list[PendingWorkload], expected: dict[str, int]
) -> None:
    decision = decide_node_groups(groups, pending, [], now=0.0)
    assert dict(decision.scale_up) == expected


def test_most_pods_takes_the_bigger_template_first() -> None:
    groups = [group("small", A100x1, hi=1), group("big", A100x4, hi=1)]
    pending = [gpu_pods(f"w{i}", 1) for i in range(3)]
    decision = decide_node_groups(groups, pending, [], now=0, expander="most-pods")
    assert decision.scale_up == {"big": 1}  # three pods on one node; nothing left for small
    least = decide_node_groups(groups, pending, [], now=0, expander="least-waste")
    # A small node with one pod wastes less than a big one with three (an idle GPU); the
    # two pods left then need the big one.
    assert least.scale_up == {"small": 1, "big": 1}


def test_pending_work_no_group_can_help_says_why() -> None:
    groups = [group("cpu", CPU16), group("a", A100x1, hi=1, now=1)]
    decision = decide_node_groups(groups, [gpu_pods("g", 1), gpu_pods("h", 1, gpus=2)], [], now=0)
    assert decision.no_group == {
        "g": "node group(s) a could host it but are at their max size",
        "h": "no node group's template can host it",
    }


def idle(name: str, grp: str, since: float | None, template: NodeTemplate = A100x1) -> GroupNode:
    return GroupNode(template.node(name), grp, since)


SCALE_DOWN_CASES = [
    # (case, group, nodes, now, expected removals)
    ("idle past 600 s goes", group("a", A100x1, now=1), [idle("n0", "a", 0.0)], 600.0, ("n0",)),
    ("idle for less stays", group("a", A100x1, now=1), [idle("n0", "a", 1.0)], 600.0, ()),
    ("busy stays", group("a", A100x1, now=1), [idle("n0", "a", None)], 9999.0, ()),
    (
        "never below min, longest idle goes first",
        group("a", A100x1, lo=1, now=3),
        [idle("n0", "a", 50.0), idle("n1", "a", 10.0), idle("n2", "a", 20.0)],
        1000.0,
        ("n1", "n2"),
    ),
    ("nodes of no group stay", group("a", A100x1, now=1), [idle("s0", "static", 0.0)], 9e9, ()),
]


@pytest.mark.parametrize(
    ("case", "grp", "nodes", "now", "expected"),
    SCALE_DOWN_CASES,
    ids=[c[0] for c in SCALE_DOWN_CASES],
)
def test_scale_down(
    case: str, grp: NodeGroup, nodes: list[GroupNode], now: float, expected: tuple[str, ...]
) -> None:
    assert decide_node_groups([grp], [], nodes, now=now).scale_down == expected


def test_a_node_with_work_on_it_is_not_removed_even_if_marked_idle() -> None:
    node = A100x1.node("n0")
    node.cpu_free -= 1000  # something runs there
    decision = decide_node_groups(
        [group("a", A100x1, now=1)], [], [GroupNode(node, "a", 0.0)], now=1e6
    )
    assert decision.scale_down == ()


def test_unneeded_time_is_a_setting() -> None:
    nodes = [idle("n0", "a", 0.0)]
    grp = group("a", A100x1, now=1)
    assert decide_node_groups([grp], [], nodes, now=60, scale_down_unneeded_s=60).scale_down == (
        "n0",
    )
    assert decide_node_groups([grp], [], nodes, now=59, scale_down_unneeded_s=60).scale_down == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale_down_unneeded_s": -1}, "scale_down_unneeded_s"),
        ({"expander": "random"}, "expander 'random'"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decide_node_groups([], [], [], now=0, **kwargs)  # type: ignore[arg-type]


def test_bad_group_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        NodeGroup("a", A100x1, 3, 2, 0)
