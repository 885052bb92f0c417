"""Admission throughput, shaped like Kueue's own performance baseline.

30 queues in 6 cohorts of 5 (two GPU flavors, cpu and memory per queue; some with borrowing and
lending limits); 15,000 workloads of mixed sizes (fractional GPUs, whole GPUs, multi-worker gangs,
an `h100 x1 else a100 x2` fallback) and three priorities, arriving over virtual time and finishing
after a virtual duration. The sim engine (`mlkube.sim`) runs them on 45 virtual nodes sized
exactly to the queues' nominal quota (15 H100 and 30 A100 nodes of 8 GPUs, 64 CPUs and 512Gi:
per flavor, the sum of the 30 queues' quota in every resource), with a virtual clock: one
decision pass per virtual second in which something changed (quota admission where something
changed, gang placement on the nodes, preemption for the head of each queue that quota
blocks, with no grace period, as in Kueue's).

    .venv/bin/python benchmarks/admission.py [--workloads 15000] [--seed 1]

Kueue reports 351 s for its 15,000-workload baseline (on a real API server, so wall time there
includes far more than policy); the target here is under half of that.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.scheduling.cluster import GPU_WHOLE, Task
from mlkube.scheduling.nodegroups import NodeTemplate
from mlkube.scheduling.quota import FlavorOption, FlavorQuota, PodSet, QueueQuota, Workload
from mlkube.sim import SimOption, SimPodSet, SimResult, SimSettings, SimSpec, SimWorkload, run
from mlkube.testing.quota_specs import GPU, option, vector

KUEUE_BASELINE_S = 351.0
PRIORITIES = (0, 0, 0, 10, 10, 100)


MODELS = {"h100": "H100", "a100": "A100"}
# The nodes are exactly what the quota provisions: per flavor, the 30 queues' nominal quota is
# 30 x (4 GPUs, 32 CPUs, 256Gi) of H100 and 30 x (8 GPUs, 64 CPUs, 512Gi) of A100, so 15 H100
# and 30 A100 nodes of 8 GPUs, 64 CPUs and 512Gi each add up to it in every resource. Whatever
# quota admits but packing cannot place waits for room, as it would on a real cluster.
NOMINAL_GPUS = 30 * (4 + 8)
NODE_SHAPE = (64_000, 512 * 1024)  # millicores, MiB
NODES = {
    "h100": (15, NodeTemplate(*NODE_SHAPE, "H100", 8)),
    "a100": (30, NodeTemplate(*NODE_SHAPE, "A100", 8)),
}


def make_quotas(scale: int = 1) -> dict[str, QueueQuota]:
    """The 30 queues; `scale` multiplies every amount (for bigger clusters)."""
    quotas: dict[str, QueueQuota] = {}
    for c in range(6):
        for i in range(5):
            name = f"team-{c}-{i}"
            h100 = FlavorQuota(
                vector(gpu=4 * scale, cpu=32 * scale, memory=f"{256 * scale}Gi"),
                borrowing_limit=vector(gpu=4 * scale) if i % 2 else None,
            )
            a100 = FlavorQuota(
                vector(gpu=8 * scale, cpu=64 * scale, memory=f"{512 * scale}Gi"),
                lending_limit=vector(gpu=4 * scale) if i == 0 else None,
            )
            quotas[name] = QueueQuota(
                name, {"h100": h100, "a100": a100}, cohort=f"cohort-{c}", weight=1.0 + i % 2
            )
    return quotas


def make_workload(rng: random.Random, n: int, queue: str, at: float) -> Workload:
    kind = rng.random()
    sets: tuple[PodSet, ...]
    if kind < 0.3:  # notebooks and small evals: a quarter GPU
        sets = (PodSet("main", 1, (_opt("a100", 0.25, 2, "8Gi"), _opt("h100", 0.25, 2, "8Gi"))),)
    elif kind < 0.6:  # single-GPU training, H100 x1 else A100 x2
        sets = (PodSet("main", 1, (_opt("h100", 1, 8, "64Gi"), _opt("a100", 2, 8, "64Gi"))),)
    elif kind < 0.85:  # data prep: CPU only
        sets = (PodSet("main", rng.choice((1, 2, 4)), (_opt("a100", 0, 8, "32Gi"),)),)
    else:  # distributed training: a gang of 2-4 workers with 2 GPUs each, plus a launcher
        workers = rng.choice((2, 3, 4))
        sets = (
            PodSet("launcher", 1, (_opt("a100", 0, 1, "4Gi"),)),
            PodSet("workers", workers, (_opt("a100", 2, 16, "128Gi"),)),
        )
    return Workload(f"w{n}", queue, rng.choice(PRIORITIES), at, sets)


def _opt(flavor: str, gpu: float, cpu: int, memory: str) -> FlavorOption:
    return option(flavor, gpu=gpu, cpu=cpu, memory=memory)


def make_spec(total: int, seed: int, *, scale: int = 1) -> SimSpec:
    """`total` workloads on 45 * `scale` nodes with quotas `scale` times the base; arrivals
    come `scale` times as fast, so the load per node stays the same."""
    rng = random.Random(seed)
    quotas = make_quotas(scale)
    names = list(quotas)
    config = QueueConfig(
        quotas=quotas,
        queue_of={n: n for n in names},
        flavor_order={n: tuple(MODELS) for n in names},
        flavor_model=MODELS,
    )
    nodes = [
        template.node(f"{flavor}-{i}")
        for flavor, (count, template) in NODES.items()
        for i in range(count * scale)
    ]
    workloads = []
    at = 0.0
    for n in range(total):
        at += rng.expovariate(4.0 * scale)  # four arrivals per virtual second per 45 nodes
        wl = make_workload(rng, n, rng.choice(names), at)
        workloads.append(_sim_workload(wl, duration=rng.uniform(30, 150)))
    settings = SimSettings(autoscale=False, preemption_grace_s=0.0, tick_s=1.0)
    return SimSpec(tuple(nodes), (), config, tuple(workloads), settings)


def _sim_workload(wl: Workload, *, duration: float) -> SimWorkload:
    sets = tuple(
        SimPodSet(ps.name, ps.count, tuple(_sim_option(ps.name, o) for o in ps.options))
        for ps in wl.pod_sets
    )
    return SimWorkload(wl.key, wl.queue, wl.queue, wl.priority, wl.created, duration, sets)


def _sim_option(name: str, o: FlavorOption) -> SimOption:
    gpu = o.per_pod.get_amount(GPU)
    task = Task(
        name,
        o.per_pod.get_amount("cpu"),
        math.ceil(o.per_pod.get_amount("memory") / 2**20),
        num_gpu=max(1, gpu // GPU_WHOLE) if gpu else 0,
        gpu_milli=min(gpu, GPU_WHOLE),
        gpu_models=(MODELS[o.flavor],) if gpu else (),
    )
    return SimOption(o.flavor, o.per_pod, task)


def quota_utilization(result: SimResult, spec: SimSpec, *, scale: int = 1) -> float:
    """Mean GPUs in use over the nominal GPU quota of all queues."""
    node_gpus = sum(len(n.gpus) for n in spec.nodes)
    return result.gpu_allocation * node_gpus / (NOMINAL_GPUS * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    spec = make_spec(args.workloads, args.seed)
    start = time.perf_counter()
    result = run(spec)
    wall = time.perf_counter() - start
    print(
        f"workloads            {args.workloads} in 30 queues / 6 cohorts, {len(spec.nodes)} nodes"
    )
    print(f"virtual time         {result.makespan_s:.0f} s")
    print(f"admissions           {result.admissions} ({result.admissions / wall:.0f}/s)")
    print(f"preemptions          {result.preemptions}")
    print(f"left pending         {result.workloads - result.finished}")
    print(f"queue wait           mean {result.mean_wait_s:.1f} s, p95 {result.p95_wait_s:.1f} s")
    print(f"mean GPU utilization {quota_utilization(result, spec):.1%} of nominal quota")
    print(f"wall time            {wall:.1f} s")
    d = result.decisions
    print(
        f"decisions            {d.admissions} admission ({d.per_admission_us():.1f} us each), "
        f"{d.placements} placement ({d.per_placement_us():.1f} us each)"
    )
    half = KUEUE_BASELINE_S / 2
    verdict = "meets" if wall < half else "misses"
    print(f"Kueue baseline       {KUEUE_BASELINE_S:.0f} s; target < {half:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
