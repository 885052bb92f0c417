"""Trace workloads into `SimWorkload`s: quota usage per flavor and a placement task per pod.

The flavors a pod set may be charged to come from the quota gate's own `flavor_options` (the
queue's flavors that cover the request, in the queue's order, with the same GPU-model rule),
asked once per choice of the pod set (its requests, then each fallback). Each flavor's quota
usage is the pod's exact request, so fractional GPUs count as fractions (0.25 GPU = 250 milli).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mlkube.api.quantity import QuantityError
from mlkube.api.resources import ResourceRequest
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig, flavor_options
from mlkube.scheduling.cluster import GPU_WHOLE, Cluster, ClusterNode, Task
from mlkube.scheduling.placement import best_fit
from mlkube.scheduling.quota import ResourceVector, format_amount
from mlkube.sim.spec import SimOption, SimPodSet, SimWorkload
from mlkube.sim.trace_format import GPU, Choice, PodSetEntry, WorkloadEntry

__all__ = ["TraceError", "WorkloadBuilder"]

MIB = 2**20


class TraceError(ValueError):
    """A trace that cannot be simulated; the message names the field and the reason."""


class WorkloadBuilder:
    """Builds the workloads of a trace against its queues, priority classes and node shapes."""

    def __init__(
        self,
        queues: QueueConfig,
        priorities: Mapping[str, int],
        default_priority: int,
        *,
        shapes: Sequence[ClusterNode],
    ) -> None:
        self.queues = queues
        self.priorities = priorities
        self.default_priority = default_priority
        self.models = sorted({n.gpu_model for n in shapes if n.gpus})
        # One empty node per distinct shape: "does it fit anywhere" is a placement question.
        distinct = {(n.cpu_milli, n.memory_mib, n.gpu_model, len(n.gpus)): n for n in shapes}
        self._probe = list(distinct.values())

    def build(self, entry: WorkloadEntry, index: int) -> list[SimWorkload]:
        """The workload(s) of `entry` (several with `repeat`), or `TraceError`."""
        where = f"workloads[{index}]"
        priority = self._priority(entry, where)
        queue = self.queues.queue_of.get(entry.namespace)
        pod_sets = tuple(
            self._pod_set(ps, queue, f"{where}.podSets[{i}]") for i, ps in enumerate(entry.pod_sets)
        )
        names = (
            [entry.name]
            if entry.repeat == 1
            else [f"{entry.name}-{i}" for i in range(entry.repeat)]
        )
        return [
            SimWorkload(
                key=name,
                namespace=entry.namespace,
                queue=queue,
                priority=priority,
                arrival=entry.arrival + i * entry.interval,
                duration=entry.duration,
                pod_sets=pod_sets,
            )
            for i, name in enumerate(names)
        ]

    def _priority(self, entry: WorkloadEntry, where: str) -> int:
        name = entry.priority_class_name
        if name is None:
            return self.default_priority
        if name not in self.priorities:
            known = ", ".join(sorted(self.priorities)) or "none"
            raise TraceError(
                f"{where}.priorityClassName: no PriorityClass named {name!r} (defined: {known})"
            )
        return self.priorities[name]

    def _pod_set(self, entry: PodSetEntry, queue: str | None, where: str) -> SimPodSet:
        choices: list[tuple[Choice, str]] = [(entry, where)]
        choices += [(c, f"{where}.fallbacks[{i}]") for i, c in enumerate(entry.fallbacks)]
        options: list[SimOption] = []
        for choice, at in choices:
            usage, task = self._request(choice, at, entry.name)
            if queue is None:
                options.append(SimOption("", usage, task))
                continue
            for flavor in self._flavors(choice, usage, queue):
                if all(o.flavor != flavor for o in options):  # a flavor once, first choice wins
                    options.append(SimOption(flavor, usage, self._for_flavor(task, choice, flavor)))
        if not options:
            covered = ", ".join(sorted(usage)) or "nothing"
            raise TraceError(
                f"{where}: no flavor of ClusterQueue {queue} covers what it requests ({covered})"
            )
        return SimPodSet(entry.name, entry.count, tuple(options))

    def _request(self, choice: Choice, where: str, name: str) -> tuple[ResourceVector, Task]:
        try:
            usage = ResourceVector.of(choice.requests.quantities())
        except QuantityError as err:
            raise TraceError(f"{where}.requests: {err}") from None
        gpu = usage.get_amount(GPU)
        if gpu > GPU_WHOLE and gpu % GPU_WHOLE:
            raise TraceError(
                f"{where}.requests.{GPU}: {format_amount(GPU, gpu)} is more than one GPU and "
                "not whole; ask for a share below 1 or whole GPUs"
            )
        models = self._models(choice.gpu_model, where) if gpu else ()
        task = Task(
            name,
            cpu_milli=usage.get_amount("cpu"),
            memory_mib=math.ceil(usage.get_amount("memory") / MIB),
            num_gpu=max(1, gpu // GPU_WHOLE) if gpu else 0,
            gpu_milli=min(gpu, GPU_WHOLE),
            gpu_models=models,
        )
        if not any(best_fit(Cluster([_fresh(n)]), task) for n in self._probe):
            raise TraceError(
                f"{where}.requests: bigger than any node or node-group template "
                f"({_describe(usage)}{f' of {choice.gpu_model}' if models else ''})"
            )
        return usage, task

    def _models(self, wanted: str | None, where: str) -> tuple[str, ...]:
        if wanted is None:
            return ()
        found = tuple(m for m in self.models if wanted.lower() in m.lower())
        if not found:
            known = ", ".join(self.models) or "none"
            raise TraceError(
                f"{where}.gpuModel: no node or node-group template has GPU model {wanted!r} "
                f"(models: {known})"
            )
        return found

    def _flavors(self, choice: Choice, usage: ResourceVector, queue: str) -> list[str]:
        request = ResourceRequest(
            cpu_millis=usage.get_amount("cpu"),
            memory_bytes=usage.get_amount("memory"),
            gpu_count=math.ceil(usage.get_amount(GPU) / GPU_WHOLE),
            gpu_vendor="nvidia" if usage.get_amount(GPU) else None,
            gpu_model=choice.gpu_model,
        )
        return [o.flavor for o in flavor_options(self.queues, queue, request)]

    def _for_flavor(self, task: Task, choice: Choice, flavor: str) -> Task:
        """A flavor with a GPU model sends the pod to nodes of that model."""
        model = self.queues.flavor_model.get(flavor)
        if not task.num_gpu or choice.gpu_model or not model:
            return task
        models = tuple(m for m in self.models if model.lower() in m.lower())
        return Task(
            task.name, task.cpu_milli, task.memory_mib, task.num_gpu, task.gpu_milli, models
        )


def _fresh(node: ClusterNode) -> ClusterNode:
    return ClusterNode(
        node.name, node.cpu_milli, node.memory_mib, node.gpu_model, [GPU_WHOLE] * len(node.gpus)
    )


def _describe(usage: ResourceVector) -> str:
    return ", ".join(f"{k} {format_amount(k, v)}" for k, v in sorted(usage.items())) or "nothing"
