"""The public Alibaba GPU trace 2023 ("openb") as a simulation: its nodes and its tasks.

Nodes and tasks are parsed by `mlkube.scheduling.trace` (the placement benchmark's parser).
Each task becomes a one-pod workload arriving at its `creation_time`, running for
`deletion_time - creation_time` seconds as recorded in the trace. Where the trace has no usable
deletion time (missing, or not after creation), the duration is synthetic: drawn uniformly from
`SYNTHETIC_DURATION_S` with a random generator seeded by `seed`, so a run is reproducible.

The trace names no teams, so no workload is limited by quota: the replay exercises placement
(and, when node groups are given, the node-group autoscaler). The nodes are static.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.scheduling.quota import ResourceVector
from mlkube.scheduling.trace import parse_nodes, parse_tasks
from mlkube.sim.spec import SimOption, SimPodSet, SimSettings, SimSpec, SimWorkload

__all__ = ["NODE_FILE", "SYNTHETIC_DURATION_S", "TASK_FILE", "load_alibaba"]

NODE_FILE = "openb_node_list_all_node.csv"
TASK_FILE = "openb_pod_list_default.csv"
SYNTHETIC_DURATION_S = (600.0, 7200.0)


def load_alibaba(
    directory: str | Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    settings: SimSettings | None = None,
) -> SimSpec:
    """The trace in `directory` (the two CSV files); `limit` keeps the first tasks by arrival.

    Raises ValueError naming the file and line of a bad row."""
    folder = Path(directory)
    node_lines = _lines(folder / NODE_FILE)
    task_lines = _lines(folder / TASK_FILE)
    try:
        nodes = parse_nodes(node_lines)
        arrivals = parse_tasks(task_lines)
    except ValueError as err:
        raise ValueError(f"{folder}: {err}") from None
    deletion = {row["name"]: row.get("deletion_time") or "" for row in csv.DictReader(task_lines)}
    rng = random.Random(seed)
    workloads = []
    for arrival in arrivals[:limit]:
        task = arrival.task
        start = float(arrival.creation_time)
        duration = _duration(deletion.get(task.name, ""), start)
        if duration is None:
            duration = rng.uniform(*SYNTHETIC_DURATION_S)
        usage = ResourceVector(
            {
                "cpu": task.cpu_milli,
                "memory": task.memory_mib * 2**20,
                "nvidia.com/gpu": task.num_gpu * task.gpu_milli,
            }
        )
        pod_set = SimPodSet("main", 1, (SimOption("", usage, task),))
        workloads.append(SimWorkload(task.name, "default", None, 0, start, duration, (pod_set,)))
    return SimSpec(tuple(nodes), (), QueueConfig(), tuple(workloads), settings or SimSettings())


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None


def _duration(text: str, start: float) -> float | None:
    try:
        end = float(text)
    except ValueError:
        return None
    return end - start if end > start else None
