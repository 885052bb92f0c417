"""Choosing a revision (by traffic percent) and a replica (fewest outstanding requests).

Pure: no clock reads, no I/O. The callers pass ``now`` and a random source; the only state is
the explicit, per-object counters below, which the router mutates as requests start and end.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mlkube.serving.upstream import UpstreamPool

__all__ = ["EndpointState", "SmoothWeighted", "pick_endpoint"]


class SmoothWeighted:
    """Smooth weighted round-robin (the nginx algorithm) over integer weights.

    Deterministic and evenly interleaved: weights 80/20 give exactly 80/20 in every window of
    100 picks, with the minority spread out (never 20 in a row). Zero weights are never picked.
    At least one weight must be positive.
    """

    __slots__ = ("_current", "_total", "_weights")

    def __init__(self, weights: Sequence[int]) -> None:
        if not any(w > 0 for w in weights) or any(w < 0 for w in weights):
            raise ValueError(f"weights must be >= 0 with one > 0, got {list(weights)}")
        self._weights = list(weights)
        self._current = [0] * len(weights)
        self._total = sum(weights)

    def pick(self) -> int:
        """The index to use next."""
        weights, current = self._weights, self._current
        if len(weights) == 1:
            return 0
        best = -1
        for i, w in enumerate(weights):
            if w:
                current[i] += w
                if best < 0 or current[i] > current[best]:
                    best = i
        current[best] -= self._total
        return best


class EndpointState:
    """A replica address and what the router knows about it now.

    Shared by every route entry naming the same ``host:port`` and kept across table updates, so
    outstanding counts and the connection pool survive a ``PUT /routes``.
    """

    __slots__ = ("failed_until", "host", "outstanding", "pool", "port")

    def __init__(self, host: str, port: int, pool: UpstreamPool | None = None) -> None:
        self.host = host
        self.port = port
        self.pool = pool
        self.outstanding = 0
        self.failed_until = 0.0  # monotonic time until which a connect failure keeps it aside


def pick_endpoint(
    endpoints: Sequence[tuple[str, EndpointState]],
    now: float,
    rng: random.Random,
    exclude: EndpointState | None = None,
) -> int | None:
    """Index of the endpoint with the fewest outstanding requests, ties broken at random.

    Endpoints in failure backoff (``failed_until > now``) are chosen only when no other is
    left; ``exclude`` (the one that just failed) is never chosen. None when nothing is left.
    """
    best = -1
    best_key = (True, 0)
    ties = 0
    for i, (_, ep) in enumerate(endpoints):
        if ep is exclude:
            continue
        key = (ep.failed_until > now, ep.outstanding)
        if best < 0 or key < best_key:
            best, best_key, ties = i, key, 1
        elif key == best_key:
            ties += 1  # reservoir sampling: each tied endpoint wins with probability 1/ties
            if rng.random() * ties < 1.0:
                best = i
    return best if best >= 0 else None
