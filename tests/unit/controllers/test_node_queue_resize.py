"""`NodeQueue.resize`: the cluster's capacity changes under running and waiting work."""

from __future__ import annotations

from mlkube.api.resources import ResourceRequest
from mlkube.controllers.pipelinerun.node_queue import NodeQueue
from mlkube.scheduling.node_fit import NodeCapacity

GIB = 1 << 30
TWO_CORES = ResourceRequest(cpu_millis=2000, memory_bytes=GIB)


def cluster(cores: int) -> NodeCapacity:
    return NodeCapacity("cluster", tuple(range(cores)), 16 * GIB)


def running(queue: NodeQueue, step_key: str) -> str:
    """Admit `step_key` and start it as attempt 1; returns its workload id."""
    grant = queue.take_reserved(step_key)
    assert grant is not None
    namespace, run, step = step_key.split("/")
    workload_id = f"{namespace}/{run}/0123abcd/{step}/1"  # `ns/run/uid/step/attempt`
    queue.start(workload_id, grant)
    return workload_id


def test_a_step_waiting_for_room_is_admitted_once_the_cluster_grows() -> None:
    queue = NodeQueue(cluster(2))
    queue.enqueue("team/run/a", ("0",), TWO_CORES)
    queue.enqueue("team/run/b", ("1",), TWO_CORES)
    assert queue.schedule() == {"team/run"}
    running(queue, "team/run/a")
    assert set(queue.waiting) == {"team/run/b"}
    assert queue.wait_reasons["team/run/b"].startswith("waiting for CPU")
    version = queue.version
    queue.resize(cluster(4))
    assert queue.version > version
    assert queue.schedule() == {"team/run"}
    assert set(queue.reserved) == {"team/run/b"}
    assert set(queue.reserved["team/run/b"].cpu_millis) == {2, 3}  # not a's cores


def test_running_work_stays_when_the_cluster_shrinks_and_nothing_new_fits() -> None:
    queue = NodeQueue(cluster(4))
    for key in ("team/run/a", "team/run/b"):
        queue.enqueue(key, (key,), TWO_CORES)
    queue.schedule()
    ids = [running(queue, "team/run/a"), running(queue, "team/run/b")]
    queue.resize(cluster(2))  # a node of two cores went away
    assert sorted(queue.running) == sorted(ids)  # nothing is dropped from the books
    assert all(set(g.cpu_millis) <= {0, 1} for g in queue.running.values())
    queue.enqueue("team/run/c", ("2",), ResourceRequest(cpu_millis=500))
    assert queue.schedule() == set()
    assert queue.wait_reasons["team/run/c"].startswith("waiting for CPU")
    queue.release(ids[0])
    queue.release(ids[1])
    assert queue.schedule() == {"team/run"}  # room again once the old work is gone
    assert set(queue.reserved) == {"team/run/c"}
