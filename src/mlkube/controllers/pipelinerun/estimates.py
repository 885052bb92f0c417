"""Feeding `mlkube.scheduling.estimate`: when a waiting step may start, from the node queue.

Dimensions are the node's (`node/cpu`, `node/memory`, `node/gpu`, in millicores, bytes and
thousandths of a GPU) and, for a step whose namespace has a ClusterQueue, its queue's
(`quota/FLAVOR/RESOURCE`): what is free under the queue's binding limit now plus what the
queue's (and its cohort's) running work holds, which comes back when it ends; a borrowing limit
may keep some of that from the queue, so the estimate can be early there. A running step is
expected to end at its start plus its expected duration (see `expected_duration`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median

from mlkube.api.resources import ResourceRequest
from mlkube.controllers.pipelinerun.node_queue import NodeQueue, held_workloads, queued_workload
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig, gpu_millis_on
from mlkube.scheduling.estimate import Holder, Queued, StartEstimate, estimate_start
from mlkube.scheduling.node_fit import Grant, NodeCapacity
from mlkube.scheduling.quota import Ledger

WHOLE = 1000


def expected_duration(earlier: Sequence[float], timeout: float | None) -> float | None:
    """How long a step will run: the median of its earlier successful runs, else its timeout
    (an upper bound), else unknown."""
    if earlier:
        return float(median(earlier))
    return timeout if timeout else None


def _name(key: str) -> str:
    """`ns/run/uid/step/attempt` or `ns/run/step` → `run/step`, as a person names it."""
    parts = key.split("/")
    return f"{parts[1]}/{parts[3]}" if len(parts) == 5 else "/".join(parts[1:])


def node_amounts(node: NodeCapacity) -> dict[str, int]:
    """The node's capacity in the estimate's dimensions."""
    return {
        "node/cpu": len(node.cpus) * WHOLE,
        "node/memory": node.memory_bytes,
        "node/gpu": len(node.gpus) * WHOLE,
    }


def grant_amounts(grant: Grant) -> dict[str, int]:
    """What a running or reserved grant holds, in the node's dimensions."""
    return {
        "node/cpu": sum(grant.cpu_millis.values()),
        "node/memory": grant.memory_bytes,
        "node/gpu": grant.gpu_total_millis,
    }


def request_amounts(request: ResourceRequest, node: NodeCapacity) -> dict[str, int]:
    """What a waiting request will hold, in the node's dimensions, for its first GPU choice;
    a share sized by memory is sized on the node's devices as quota sizes it (on the smallest
    matching device), not counted as a whole device."""
    choices = request.gpu_choices()
    gpus = gpu_millis_on(choices[0], node) if choices else 0
    return {"node/cpu": request.cpu_millis, "node/memory": request.memory_bytes, "node/gpu": gpus}


def start_estimate(
    queue: NodeQueue,
    config: QueueConfig | None,
    step_key: str,
    *,
    ends: Mapping[str, float | None],
    durations: Mapping[str, float | None],
    now: float,
) -> StartEstimate | None:
    """When the waiting `step_key` may start. `ends`: expected end of each running workload
    id; `durations`: expected duration of waiting step keys. None when it is not waiting."""
    work = queue.waiting.get(step_key)
    if work is None:
        return None
    node = queue.node
    capacity = node_amounts(node)
    amounts: dict[str, dict[str, int]] = {k: grant_amounts(g) for k, g in queue.running.items()}
    amounts.update({k: grant_amounts(g) for k, g in queue.reserved.items()})
    for key, request in ((k, w.request) for k, w in queue.waiting.items() if w.order <= work.order):
        amounts[key] = request_amounts(request, node)
    if config is not None and config.active:
        _add_quota(queue, config, step_key, capacity, amounts)
    running = [Holder(_name(k), amounts[k], ends.get(k)) for k in queue.running]
    running += [
        Holder(_name(k), amounts[k], now + d if (d := durations.get(k)) is not None else None)
        for k in queue.reserved
    ]
    ahead = [
        Queued(_name(k), amounts[k], durations.get(k))
        for k, w in sorted(queue.waiting.items(), key=lambda kv: kv[1].order)
        if w.order < work.order
    ]
    return estimate_start(
        amounts[step_key], capacity=capacity, running=running, ahead=ahead, now=now
    )


def _add_quota(
    queue: NodeQueue,
    config: QueueConfig,
    step_key: str,
    capacity: dict[str, int],
    amounts: dict[str, dict[str, int]],
) -> None:
    """Add the step's queue's dimensions: its usage in the step's first flavor option."""
    name = config.queue_for(step_key)
    mine = queued_workload(queue, config, step_key, step_key)
    if name is None or mine is None:
        return
    flavor = mine.pod_sets[0].options[0].flavor
    held = held_workloads(queue, config)
    ledger = Ledger(config.quotas, held)
    cohort = config.quotas[name].cohort
    # What the queue's cohort holds comes back to the pool it borrows from when it ends.
    own = [
        w for w in held if w.queue == name or (cohort and config.quotas[w.queue].cohort == cohort)
    ]
    for fr in mine.usage((flavor,)):
        dim = f"quota/{fr[0]}/{fr[1]}"
        capacity[dim] = ledger.available(name, fr)[0] + sum(w.usage().get(fr, 0) for w in own)
    usages = {w.key: w.usage() for w in own}
    for key in [k for k in amounts if k in queue.waiting and config.queue_for(k) == name]:
        waiting = queued_workload(queue, config, key, key)
        if waiting is not None:
            usages[key] = waiting.usage((waiting.pod_sets[0].options[0].flavor,))
    for key, usage in usages.items():
        for fr, amount in usage.items():
            dim = f"quota/{fr[0]}/{fr[1]}"
            if key in amounts and dim in capacity:
                amounts[key][dim] = amount
