"""Small Prometheus helpers shared by the serving processes (router, model-server replicas).

Each process keeps its own :class:`prometheus_client.CollectorRegistry` (never the global one),
so tests can run several in one interpreter and nothing leaks between them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "new_registry", "render"]

# Inference latencies: sub-millisecond proxy hops up to minute-long generations.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

CONTENT_TYPE: str = CONTENT_TYPE_LATEST  # the text exposition format, version 0.0.4


def new_registry() -> CollectorRegistry:
    """A fresh registry without the default process/platform collectors."""
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format; serve it with :data:`CONTENT_TYPE`."""
    return generate_latest(registry)
