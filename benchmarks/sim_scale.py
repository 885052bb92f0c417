"""How decision time grows with the cluster: the admission benchmark's workload on about 1,000,
3,000 and 10,000 virtual nodes.

Each size is the base cluster (45 nodes, sized exactly to the 30 queues' nominal quota; see
`admission.py`) times a factor: every queue's quota, the node count and the arrival rate grow
by that factor, and so does the workload count, because every size replays the same stretch
of virtual time (`--seconds` of arrivals, then until the last finishes). So the load per node,
the quota utilization and the queueing are comparable across sizes, and only the size of the
cluster (and of the backlog it serves) changes. To keep the whole run under a minute on a
small machine the stretch is short: 40 virtual seconds of arrivals by default, about 36
workloads per 10 nodes, so the cluster is still filling up (runs take 30-150 s) and little
queues; `--seconds 60` queues more (about 6 s mean wait) and, preemption being asked about
far more often, takes about 6 minutes at 10,000 nodes. The 15,000-workload run under a
steady backlog is `admission.py`.

Printed per size: the decisions taken and their wall time per decision (`SimResult.decisions`)
for admission (per workload handed to quota admission), placement (per pod the placement
policy was asked to place) and preemption (per queue head the preemption policy was asked
about), each with its ratio to the smallest size: 1.0 means the cost of one decision does not
grow with the cluster. Preemption looks at every running workload of the head's cohort, so its
cost grows with the workloads a cohort runs, which grow with the cluster here.

    .venv/bin/python benchmarks/sim_scale.py [--seconds 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

from admission import NODES, make_spec, quota_utilization

from mlkube.sim import run

SIZES = (1_000, 3_000, 10_000)
BASE_NODES = sum(count for count, _ in NODES.values())  # 45
ARRIVALS_PER_S = 4.0  # per base cluster, as in admission.make_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{'nodes':>6} {'workloads':>9} {'wait s':>6} {'util':>6} {'wall s':>6}  "
        f"{'admission: n, us each, ratio':>29}  {'placement: n, us each, ratio':>29}  "
        f"{'preemption: n, us each, ratio':>30}"
    )
    first: tuple[float, float, float] | None = None
    for size in SIZES:
        scale = max(1, round(size / BASE_NODES))
        total = round(ARRIVALS_PER_S * scale * args.seconds)
        spec = make_spec(total, args.seed, scale=scale)
        start = time.perf_counter()
        result = run(spec)
        wall = time.perf_counter() - start
        d = result.decisions
        each = (d.per_admission_us(), d.per_placement_us(), d.per_preemption_us())
        first = first or each
        util = quota_utilization(result, spec, scale=scale)
        columns = [
            f"{n:>9,} {us:>9.1f} {us / base if base else 0.0:>9.2f}"
            for n, us, base in zip(
                (d.admissions, d.placements, d.preemptions), each, first, strict=True
            )
        ]
        print(
            f"{len(spec.nodes):>6,} {total:>9,} {result.mean_wait_s:>6.1f} {util:>6.1%} "
            f"{wall:>6.1f}  {columns[0]:>29}  {columns[1]:>29}  {columns[2]:>30}"
        )


if __name__ == "__main__":
    main()
