"""Parsing of the Alibaba GPU cluster trace 2023 ("openb") into nodes and tasks.

Pure: takes the CSV text as lines (the caller reads the files) and returns plain data. Columns
are those of `cluster-trace-gpu-v2023/csv/` in alibaba/clusterdata, published with Weng et al.,
"Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient
Descent", USENIX ATC 2023:

- nodes: `sn, cpu_milli, memory_mib, gpu, model` (model empty for CPU-only nodes)
- tasks: `name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase,
  creation_time, deletion_time, scheduled_time`; `gpu_spec` is acceptable GPU models separated
  by `|`, empty for any.

A bad row raises ValueError naming the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

from mlkube.scheduling.cluster import GPU_WHOLE, ClusterNode, Task

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
TASK_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec")


@dataclass(frozen=True, slots=True)
class TraceTask:
    """A task and when it arrived (seconds from the start of the trace)."""

    task: Task
    creation_time: int


def parse_nodes(lines: Iterable[str]) -> list[ClusterNode]:
    """Nodes in file order, every GPU whole and free."""
    nodes = []
    for line_no, row in _rows(lines, NODE_COLUMNS):
        gpus = _int(row, "gpu", line_no)
        nodes.append(
            ClusterNode(
                name=row["sn"],
                cpu_milli=_int(row, "cpu_milli", line_no),
                memory_mib=_int(row, "memory_mib", line_no),
                gpu_model=row["model"].strip() if gpus else "",
                gpus=[GPU_WHOLE] * gpus,
            )
        )
    return nodes


def parse_tasks(lines: Iterable[str]) -> list[TraceTask]:
    """Tasks in arrival order: by `creation_time`, file order among equal times."""
    tasks = []
    for line_no, row in _rows(lines, (*TASK_COLUMNS, "creation_time")):
        num_gpu = _int(row, "num_gpu", line_no)
        spec = row["gpu_spec"].strip()
        try:
            task = Task(
                name=row["name"],
                cpu_milli=_int(row, "cpu_milli", line_no),
                memory_mib=_int(row, "memory_mib", line_no),
                num_gpu=num_gpu,
                gpu_milli=_int(row, "gpu_milli", line_no) if num_gpu else 0,
                gpu_models=tuple(m for m in spec.split("|") if m) if num_gpu else (),
            )
        except ValueError as e:
            raise ValueError(f"line {line_no}: {e}") from e
        tasks.append(TraceTask(task, _int(row, "creation_time", line_no)))
    tasks.sort(key=lambda t: t.creation_time)  # stable: file order among equal times
    return tasks


def _rows(lines: Iterable[str], required: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(lines)
    missing = [c for c in required if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"header: missing column(s) {', '.join(missing)}")
    for offset, row in enumerate(reader):
        yield offset + 2, row  # line 1 is the header


def _int(row: dict[str, str], column: str, line_no: int) -> int:
    text = (row.get(column) or "").strip()
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"line {line_no}: column {column}: {text!r} is not an integer") from None
