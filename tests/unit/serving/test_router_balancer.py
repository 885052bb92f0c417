"""Revision choice by traffic percent and replica choice by outstanding requests (pure)."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from mlkube.serving.balancer import EndpointState, SmoothWeighted, pick_endpoint


def picks(weights: list[int], n: int) -> list[int]:
    chooser = SmoothWeighted(weights)
    return [chooser.pick() for _ in range(n)]


@pytest.mark.parametrize(
    ("weights", "n"),
    [([80, 20], 100), ([50, 50], 10), ([1, 99], 100), ([34, 33, 33], 100), ([100], 7)],
)
def test_each_full_cycle_matches_the_weights_exactly(weights: list[int], n: int) -> None:
    total = sum(weights)
    counts = Counter(picks(weights, n))
    for i, w in enumerate(weights):
        assert counts[i] == w * n // total


def test_minority_is_spread_out_not_bunched() -> None:
    seq = picks([80, 20], 100)
    gaps = [i for i, x in enumerate(seq) if x == 1]
    assert max(b - a for a, b in itertools.pairwise(gaps)) <= 6
    assert seq[:10].count(1) == 2  # smooth from the start: 80/20 within any 10 picks


def test_zero_weight_is_never_picked() -> None:
    assert set(picks([0, 100, 0], 50)) == {1}


@pytest.mark.parametrize("weights", [[0, 0], [], [-1, 101]])
def test_rejects_weights_without_a_positive_one(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="weights"):
        SmoothWeighted(weights)


def eps(*outstanding: int) -> list[tuple[str, EndpointState]]:
    out = []
    for i, n in enumerate(outstanding):
        ep = EndpointState("127.0.0.1", 9000 + i)
        ep.outstanding = n
        out.append((f"r-{i}", ep))
    return out


def test_picks_the_fewest_outstanding() -> None:
    assert pick_endpoint(eps(3, 1, 2), 0.0, random.Random(1)) == 1


def test_ties_are_broken_at_random_over_all_tied() -> None:
    endpoints = eps(1, 0, 0, 0)
    rng = random.Random(7)
    seen = Counter(pick_endpoint(endpoints, 0.0, rng) for _ in range(3000))
    assert set(seen) == {1, 2, 3}
    assert all(800 < c < 1200 for c in seen.values())


def test_endpoints_in_backoff_are_avoided_until_nothing_else_is_left() -> None:
    endpoints = eps(0, 5)
    endpoints[0][1].failed_until = 10.0
    assert pick_endpoint(endpoints, 9.0, random.Random(1)) == 1
    assert pick_endpoint(endpoints, 10.0, random.Random(1)) == 0  # backoff over
    endpoints[1][1].failed_until = 10.0
    assert pick_endpoint(endpoints, 9.0, random.Random(1)) == 0  # all failed: least loaded


def test_excluded_endpoint_is_never_chosen() -> None:
    endpoints = eps(0, 5)
    assert pick_endpoint(endpoints, 0.0, random.Random(1), exclude=endpoints[0][1]) == 1
    assert pick_endpoint(endpoints[:1], 0.0, random.Random(1), exclude=endpoints[0][1]) is None
    assert pick_endpoint([], 0.0, random.Random(1)) is None
