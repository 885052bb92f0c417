"""When a waiting gang may start, and its place in line: `scheduling.estimate` fed for a gang.

A gang starts only when all N workers fit at once, so it needs N times a worker's request on
the node (`node/cpu`, `node/memory`, `node/gpu`, in millicores, bytes and thousandths of a
GPU). What holds the node now, what is reserved and what waits ahead of the gang's first
worker feed the replay as they do for a step. What waits ahead is replayed worker by worker,
not gang by gang, so a gang ahead may be started in part: the estimate can be early there.

Quota is not replayed for a gang: a job whose namespace has a ClusterQueue gets an unknown
estimate that says so, rather than one that ignores the quota it waits for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlkube.controllers.pipelinerun.estimates import grant_amounts, node_amounts, request_amounts
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.scheduling.estimate import Holder, Queued, StartEstimate, estimate_start

__all__ = ["gang_start_estimate", "queue_position"]

UNDER_QUOTA = "the estimate does not weigh ClusterQueue quota for a gang yet"


def gang_start_estimate(
    queue: NodeQueue,
    config: QueueConfig | None,
    keys: Sequence[str],
    *,
    ends: Mapping[str, float | None],
    durations: Mapping[str, float | None],
    now: float,
) -> StartEstimate | None:
    """When the gang whose waiting worker keys are `keys` may start; None when it does not
    wait here. `ends`: expected end of running workload ids; `durations`: expected duration
    of waiting or reserved keys (absent: unknown)."""
    works = [queue.waiting[k] for k in keys if k in queue.waiting]
    if not works or len(works) != len(keys):
        return None
    if config is not None and config.queue_for(keys[0]) is not None:
        return StartEstimate(None, reason=UNDER_QUOTA)
    first = min(w.order for w in works)
    own = set(keys)
    node = queue.node
    need: dict[str, int] = {}
    for work in works:
        for dim, amount in request_amounts(work.request, node).items():
            need[dim] = need.get(dim, 0) + amount
    capacity = node_amounts(node)
    running = [Holder(_name(k), grant_amounts(g), ends.get(k)) for k, g in queue.running.items()]
    running += [
        Holder(_name(k), grant_amounts(g), _end(durations.get(k), now))
        for k, g in queue.reserved.items()
    ]
    ahead = [
        Queued(_name(w.key), request_amounts(w.request, node), durations.get(w.key))
        for w in sorted(queue.waiting.values(), key=lambda w: w.order)
        if w.order < first and w.key not in own
    ]
    return estimate_start(need, capacity=capacity, running=running, ahead=ahead, now=now)


def queue_position(queue: NodeQueue, keys: Sequence[str]) -> int | None:
    """The gang's place in the node's line (1: next), counting a gang ahead once; None when
    it does not wait here."""
    orders = [queue.waiting[k].order for k in keys if k in queue.waiting]
    if not orders:
        return None
    first, own = min(orders), set(keys)
    ahead = {
        w.gang or w.key for w in queue.waiting.values() if w.order < first and w.key not in own
    }
    return len(ahead) + 1


def _end(duration: float | None, now: float) -> float | None:
    return now + duration if duration is not None else None


def _name(key: str) -> str:
    """A workload id or key as a person names it: `run/step`, or `job/wK` for a worker."""
    parts = key.split("/")
    name = parts[1].lstrip("@~") if len(parts) > 1 else key
    if len(parts) == 5:
        return f"{name}/{parts[3]}"
    return "/".join([name, *parts[2:]])
