"""The node queue's bookkeeping: what it forgets, and replicas' keys beside steps' keys."""

from __future__ import annotations

from mlkube.api.resources import ResourceRequest
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.controllers.queues import queue_statuses, queue_usage
from mlkube.scheduling.node_fit import NodeCapacity
from mlkube.scheduling.quota import FlavorQuota, QueueQuota, ResourceVector

CPU = ResourceRequest(cpu_millis=1000)
REPLICA = "team/~svc/rev-1.r0"  # see controllers.serving.replicas
REPLICA_ID = "team/~svc/0123abcd/rev-1.r0/1"


def team_queue(cpu_millis: int) -> QueueConfig:
    quota = QueueQuota("q", {"default": FlavorQuota(ResourceVector({"cpu": cpu_millis}))})
    return QueueConfig(
        quotas={"q": quota},
        queue_of={"team": "q"},
        flavor_order={"q": ("default",)},
        flavor_model={"default": None},
    )


def one_cpu_node() -> NodeQueue:
    return NodeQueue(NodeCapacity("n", (0,), 4 << 30))


def keyed_tables(queue: NodeQueue) -> dict[str, object]:
    tables = ("waiting", "reserved", "running", "info", "flavors", "wait_reasons", "never")
    return {name: dict(getattr(queue, name)) for name in tables}


def test_dropped_steps_and_replicas_leave_nothing_behind() -> None:
    queue, config = one_cpu_node(), team_queue(1000)
    queue.enqueue("team/run/a", ("0",), CPU)
    queue.enqueue(REPLICA, ("1",), CPU)
    queue.enqueue("team/run/b", ("2",), ResourceRequest(gpu_count=1, gpu_vendor="nvidia"))
    assert queue.schedule(config) == {"team/run"}
    assert set(queue.reserved) == {"team/run/a"}
    assert queue.flavors == {"team/run/a": "default"}
    assert set(queue.wait_reasons) == {REPLICA}
    assert set(queue.never) == {"team/run/b"}
    version = queue.version
    queue.drop(REPLICA)
    queue.drop_run("team/run")
    assert queue.version > version
    assert keyed_tables(queue) == keyed_tables(one_cpu_node())


def test_a_step_that_never_fits_is_forgotten_once_told() -> None:
    queue = one_cpu_node()
    queue.enqueue("team/run/big", ("0",), ResourceRequest(cpu_millis=8000))
    queue.schedule()
    assert queue.take_never("team/run/big") is not None
    assert queue.take_never("team/run/big") is None
    assert keyed_tables(queue) == keyed_tables(one_cpu_node())


def test_a_replica_counts_against_its_namespace_queue_until_released() -> None:
    queue, config = one_cpu_node(), team_queue(2000)
    queue.enqueue(REPLICA, ("0",), CPU)
    queue.enqueue("team/~svc/rev-1.r1", ("1",), CPU)
    assert queue.schedule(config) == {"team/~svc"}
    assert queue_usage(queue, config) == {"q": {("default", "cpu"): 1000}}
    grant = queue.take_reserved(REPLICA)
    assert grant is not None
    queue.start(REPLICA_ID, grant)
    assert queue_usage(queue, config) == {"q": {("default", "cpu"): 1000}}
    status = queue_statuses(queue, config)["q"]
    assert (status.admitted_workloads, status.pending_workloads) == (1, 1)
    assert queue.release(REPLICA_ID)
    assert queue_usage(queue, config) == {"q": {}}
    assert REPLICA not in queue.info and REPLICA not in queue.flavors
