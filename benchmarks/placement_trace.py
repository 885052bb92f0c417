"""Replay the Alibaba GPU trace 2023 through best-fit and FGD placement, in the same process.

Trace and policy: Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
Fragmentation Gradient Descent", USENIX ATC 2023 (trace: alibaba/clusterdata,
cluster-trace-gpu-v2023, "openb": 1,523 nodes, 8,152 tasks).

Tasks arrive in `creation_time` order and are never released, as in the paper's "inflation"
experiment; when the trace runs out it starts again from the top. Two stopping points:

- first failure: the replay stops at the first task no node can host;
- 100% arrived (the paper's x-axis): failed tasks are skipped and the replay goes on until the
  GPU demand that has arrived equals the cluster's GPU capacity.

"Unallocated GPUs" is the free GPU capacity summed over every device of every node, in GPU
units (a device with 400 milli free counts 0.4); "whole free" counts devices with nothing on
them. Allocation rate = allocated GPU capacity / total GPU capacity. Decisions per second time
the policy call plus `apply` on one core; FGD's typical-task distribution is the popularity of
task shapes over the whole trace, as in the paper.

The scaled run copies nodes and tasks (node i of the copy is trace node i mod 1,523; each task
repeated in place) up to 10,000 virtual nodes and reports time per decision to first failure.

    .venv/bin/python benchmarks/placement_trace.py --trace DIR   (or $MLKUBE_ALIBABA_TRACE)

DIR holds `openb_node_list_all_node.csv` and `openb_pod_list_default.csv` from the public
alibaba/clusterdata repository (cluster-trace-gpu-v2023).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

from mlkube.scheduling.cluster import Cluster, ClusterNode, Task
from mlkube.scheduling.placement import Placement, Workload, apply, best_fit, fgd
from mlkube.scheduling.trace import parse_nodes, parse_tasks

# The folder holding the trace's CSV files: --trace, else $MLKUBE_ALIBABA_TRACE.
TRACE_ENV = "MLKUBE_ALIBABA_TRACE"
Policy = Callable[[Cluster, Task], Placement | None]


@dataclass
class Result:
    decisions: int = 0
    seconds: float = 0.0
    placed: int = 0
    first_fail: int = -1  # tasks placed before the first failure
    free_at_fail: float = 0.0
    whole_free_at_fail: int = 0
    alloc_at_fail: float = 0.0
    failed: int = 0
    free_at_full: float = 0.0
    alloc_at_full: float = 0.0


def replay(
    nodes: Sequence[ClusterNode], tasks: Sequence[Task], policy: Policy, *, past: bool
) -> Result:
    """Replay until the first failure, or (`past`) until 100% of GPU capacity has arrived."""
    cluster = Cluster(copy.deepcopy(list(nodes)))
    total = cluster.gpu_total_milli()
    result, arrived = Result(), 0
    start = time.perf_counter()
    for task in cycle(tasks):
        arrived += task.num_gpu * task.gpu_milli
        placement = policy(cluster, task)
        result.decisions += 1
        if placement is not None:
            apply(cluster, task, placement)
            result.placed += 1
        elif result.first_fail < 0:
            result.seconds = time.perf_counter() - start
            result.first_fail = result.placed
            _snapshot_fail(result, cluster, total)
            if not past:
                return result
        else:
            result.failed += 1
        if past and arrived >= total:
            break
    free = cluster.gpu_free_milli()
    result.free_at_full, result.alloc_at_full = free / 1000, 1 - free / total
    return result


def _snapshot_fail(result: Result, cluster: Cluster, total: int) -> None:
    free = cluster.gpu_free_milli()
    result.free_at_fail = free / 1000
    result.whole_free_at_fail = sum(g == 1000 for n in cluster.nodes for g in n.gpus)
    result.alloc_at_fail = 1 - free / total


def scaled(
    nodes: Sequence[ClusterNode], tasks: Sequence[Task], size: int
) -> tuple[list[ClusterNode], list[Task]]:
    """`size` virtual nodes copied from the trace's, and its tasks repeated in proportion."""
    many = [copy.deepcopy(nodes[i % len(nodes)]) for i in range(size)]
    for i, node in enumerate(many):
        node.name = f"v{i}-{node.name}"
    factor, owed, out = size / len(nodes), 0.0, []
    for task in tasks:
        owed += factor
        while owed >= 1:
            out.append(task)
            owed -= 1
    return many, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get(TRACE_ENV)
    parser.add_argument("--trace", type=Path, default=Path(default) if default else None)
    args = parser.parse_args()
    if args.trace is None:
        parser.error(f"give --trace DIR (or set ${TRACE_ENV}): the folder of the trace's CSVs")
    nodes = parse_nodes((args.trace / "openb_node_list_all_node.csv").read_text().splitlines())
    arrivals = parse_tasks((args.trace / "openb_pod_list_default.csv").read_text().splitlines())
    tasks = [a.task for a in arrivals]
    workload = Workload.from_tasks(tasks)
    policies: dict[str, Policy] = {
        "best-fit": best_fit,
        "FGD": lambda c, t: fgd(c, t, workload=workload),
    }
    gpus = sum(len(n.gpus) for n in nodes)
    print(
        f"trace: {len(nodes)} nodes, {gpus} GPUs, {len(tasks)} tasks, "
        f"{len(workload.shapes)} task shapes in FGD's workload"
    )
    results = {name: replay(nodes, tasks, p, past=True) for name, p in policies.items()}
    _print_table(results)
    _print_scaled(nodes, tasks, policies)


def _print_table(results: dict[str, Result]) -> None:
    bf, fg = results["best-fit"], results["FGD"]
    rows: list[tuple[str, Callable[[Result], float], str]] = [
        ("decisions/s to first failure", lambda r: (r.first_fail + 1) / r.seconds, "{:,.0f}"),
        ("tasks placed before first failure", lambda r: r.first_fail, "{:,}"),
        ("unallocated GPUs at first failure", lambda r: r.free_at_fail, "{:,.1f}"),
        ("  of which whole free devices", lambda r: r.whole_free_at_fail, "{:,}"),
        ("allocation rate at first failure", lambda r: 100 * r.alloc_at_fail, "{:.2f}%"),
        ("tasks failed until 100% arrived", lambda r: r.failed + 1, "{:,}"),
        ("unallocated GPUs at 100% arrived", lambda r: r.free_at_full, "{:,.1f}"),
        ("allocation rate at 100% arrived", lambda r: 100 * r.alloc_at_full, "{:.2f}%"),
    ]
    print(f"\n{'metric':36} {'best-fit':>12} {'FGD':>12} {'FGD/best-fit':>13}")
    for label, get, fmt in rows:
        a, b = get(bf), get(fg)
        ratio = f"{b / a:.3f}" if a else "-"
        print(f"{label:36} {fmt.format(a):>12} {fmt.format(b):>12} {ratio:>13}")


def _print_scaled(nodes: list[ClusterNode], tasks: list[Task], policies: dict[str, Policy]) -> None:
    header = ("virtual nodes", "policy", "decisions", "us/decision", "decisions/s")
    print("\n" + " ".join(f"{h:>{w}}" for h, w in zip(header, (13, 9, 10, 12, 12), strict=True)))
    for size in (1523, 5000, 10000):
        many, repeated = scaled(nodes, tasks, size)
        for name, policy in policies.items():
            r = replay(many, repeated, policy, past=False)
            seconds = r.seconds or 1e-9
            print(
                f"{size:>13,} {name:>9} {r.decisions:>10,} {1e6 * seconds / r.decisions:>12.1f} "
                f"{r.decisions / seconds:>12,.0f}"
            )


if __name__ == "__main__":
    main()
