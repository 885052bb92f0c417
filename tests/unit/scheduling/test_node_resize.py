"""`refit_grants`: held grants renumbered onto a node whose capacity changed, as a table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mlkube.scheduling.gpu_fit import GpuSlot
from mlkube.scheduling.node_fit import Grant, NodeCapacity
from mlkube.scheduling.node_resize import refit_grants

GIB = 1 << 30


def node(cores: int, *gpus: tuple[str, str]) -> NodeCapacity:
    slots = tuple(GpuSlot(i, vendor, model) for i, (vendor, model) in enumerate(gpus))
    return NodeCapacity("cluster", tuple(range(cores)), 64 * GIB, slots)


A100, H100 = ("nvidia", "A100"), ("nvidia", "H100")


@dataclass(frozen=True)
class Case:
    name: str
    grants: list[tuple[str, Grant]]
    old: NodeCapacity
    new: NodeCapacity
    want: dict[str, Grant]


CASES = [
    Case(
        "a node added: grants keep their cores",
        [("a", Grant({0: 1000, 1: 500}, GIB))],
        node(2),
        node(6),
        {"a": Grant({0: 1000, 1: 500}, GIB)},
    ),
    Case(
        "a node removed: millicores on lost cores move to the emptiest cores",
        [("a", Grant({0: 1000}, GIB)), ("b", Grant({4: 1000, 5: 300}, GIB))],
        node(6),
        node(4),
        {"a": Grant({0: 1000}, GIB), "b": Grant({1: 1000, 2: 300}, GIB)},
    ),
    Case(
        "more held than the new node has: the rest piles on the first core",
        [("a", Grant({0: 1000, 1: 1000}, GIB)), ("b", Grant({2: 1000, 3: 1000}, GIB))],
        node(4),
        node(2),
        {"a": Grant({0: 1000, 1: 1000}, GIB), "b": Grant({0: 2000}, GIB)},
    ),
    Case(
        "GPU indices shifted by a node listed first: matched by vendor and model",
        [("a", Grant({0: 1000}, GIB, gpus=(0,))), ("b", Grant({1: 1000}, GIB, gpus=(1,)))],
        node(2, A100, A100),
        node(2, H100, A100, A100),
        # b's A100 is still at index 1; a's moves to the other A100, never onto b's.
        {"a": Grant({0: 1000}, GIB, gpus=(2,)), "b": Grant({1: 1000}, GIB, gpus=(1,))},
    ),
    Case(
        "a GPU of the same model still at its index stays",
        [("a", Grant({0: 1000}, GIB, gpus=(1,)))],
        node(2, H100, A100),
        node(2, H100, A100, A100),
        {"a": Grant({0: 1000}, GIB, gpus=(1,))},
    ),
    Case(
        "a model no longer in the cluster: the old index is kept",
        [("a", Grant({0: 1000}, GIB, gpus=(1,)))],
        node(2, A100, H100),
        node(2, A100),
        {"a": Grant({0: 1000}, GIB, gpus=(1,))},
    ),
    Case(
        "a lost core's millicores never land on a core another grant keeps",
        [("a", Grant({3: 1000}, GIB)), ("b", Grant({0: 1000}, GIB))],
        node(4),
        node(2),
        {"a": Grant({1: 1000}, GIB), "b": Grant({0: 1000}, GIB)},
    ),
    Case(
        "shares of one GPU move together onto the least-held device",
        [
            ("a", Grant({0: 1000}, GIB, gpus=(2,), gpu_millis=500)),
            ("b", Grant({1: 1000}, GIB, gpus=(2,), gpu_millis=250)),
        ],
        node(2, A100, H100, H100),
        node(2, H100),
        {
            "a": Grant({0: 1000}, GIB, gpus=(0,), gpu_millis=500),
            "b": Grant({1: 1000}, GIB, gpus=(0,), gpu_millis=250),
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_refit_grants(case: Case) -> None:
    assert refit_grants(case.grants, case.old, case.new) == case.want
