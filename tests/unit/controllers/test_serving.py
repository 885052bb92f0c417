"""The InferenceService controller on the bench: fake runtime, fake router, fake clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.kinds import INFERENCE_SERVICE
from mlkube.controllers.serving.router_client import ServiceStats
from mlkube.runtime.base import Usage
from mlkube.testing.fake_router import FakeRouter

from .harness import Bench

ISVC = INFERENCE_SERVICE.resource


class ServingBench(Bench):
    def __init__(self, root: Path, **kwargs: Any) -> None:
        self.router = FakeRouter()
        super().__init__(root / "data", router=self.router, **kwargs)
        self.models = root / "models"
        self.models.mkdir()
        self.ports = iter(range(40000, 41000))

    def model(self, name: str = "m1.joblib") -> str:
        path = self.models / name
        path.write_bytes(b"not really a model; the fake runtime never loads it")
        return str(path)

    def serve(self, name: str = "iris", **predictor: Any) -> None:
        predictor.setdefault(
            "model", {"modelFormat": {"name": "sklearn"}, "storageUri": self.model()}
        )
        body = {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"predictor": predictor},
        }
        self.store.create(ISVC, body)
        self.settle()

    def update(self, name: str = "iris", **predictor: Any) -> None:
        obj = self.isvc(name)
        obj["spec"]["predictor"].update(predictor)
        for key in [k for k, v in predictor.items() if v is None]:
            del obj["spec"]["predictor"][key]
        self.store.update(ISVC, obj)
        self.settle()

    def isvc(self, name: str = "iris") -> dict[str, Any]:
        return self.store.get(ISVC, "default", name)

    def ready(self, name: str = "iris") -> dict[str, Any]:
        conditions = self.isvc(name)["status"]["conditions"]
        return next(c for c in conditions if c["type"] == "Ready")

    def replicas(self) -> list[str]:
        return sorted(w for w in self.runtime.running() if "/~" in w)

    def announce(self, workload_id: str) -> int:
        """Play the model server: write the ready file with a port."""
        spec = self.runtime.spec(workload_id)
        port = next(self.ports)
        (Path(spec.cwd) / "ready.json").write_text(json.dumps({"port": port, "pid": 1}))
        self.advance(0.05)
        return port

    def announce_all(self) -> None:
        for wid in self.replicas():
            if not (Path(self.runtime.spec(wid).cwd) / "ready.json").exists():
                self.announce(wid)

    def traffic(self, name: str = "iris", **stats: Any) -> None:
        self.router.traffic[f"default/{name}"] = ServiceStats(**stats)

    def endpoints(self, name: str = "iris") -> dict[str, list[int]]:
        route = self.router.route(f"default/{name}")
        assert route is not None
        return {r.name: [e.port for e in r.endpoints] for r in route.revisions}

    def percents(self, name: str = "iris") -> dict[str, int]:
        route = self.router.route(f"default/{name}")
        assert route is not None
        return {r.name: r.percent for r in route.revisions}


@pytest.fixture
def bench(tmp_path: Path) -> ServingBench:
    return ServingBench(tmp_path)


def test_a_replica_starts_then_serves_through_the_router(bench: ServingBench) -> None:
    bench.serve()
    [wid] = bench.replicas()
    spec = bench.runtime.spec(wid)
    assert spec.command is not None
    assert spec.command[1:3] == ("-m", "mlkube.serving.replica")
    assert spec.command[spec.command.index("--model") + 1] == str(bench.models / "m1.joblib")
    assert bench.ready()["reason"] == "ReplicasStarting"
    assert bench.endpoints() == {"iris-predictor-00001": []}

    port = bench.announce(wid)
    status = bench.isvc()["status"]
    assert bench.ready()["status"] == "True" and bench.ready()["reason"] == "Serving"
    assert status["url"] == "http://127.0.0.1:9999/serving/default/iris"
    assert status["readyReplicas"] == 1
    assert status["latestReadyRevision"] == "iris-predictor-00001"
    assert bench.endpoints() == {"iris-predictor-00001": [port]}


def test_a_crashing_replica_is_replaced_after_a_backoff_and_says_why(bench: ServingBench) -> None:
    bench.serve()
    [wid] = bench.replicas()
    (Path(bench.runtime.spec(wid).cwd) / "log").write_text("ModelLoadError: file is corrupt\n")
    bench.runtime.finish(wid, exit_code=1, message="exit code 1")
    bench.settle()
    assert bench.replicas() == []
    ready = bench.ready()
    assert ready["status"] == "False" and ready["reason"] == "ReplicaFailed"
    assert "ModelLoadError: file is corrupt" in ready["message"]
    assert bench.isvc()["status"]["revisions"][0]["restarts"] == 1
    bench.advance(1.0)  # the first backoff
    [again] = bench.replicas()
    assert again != wid and again.endswith("/2")
    bench.announce(again)
    assert bench.ready()["status"] == "True"


def test_concurrency_over_target_adds_replicas_up_to_max(bench: ServingBench) -> None:
    bench.serve(minReplicas=1, maxReplicas=4, scaleTarget=4)
    bench.announce_all()
    bench.traffic(concurrency=14.0)
    bench.advance(0.5)
    assert len(bench.replicas()) == 4  # ceil(1 * 14 / 4)
    assert "concurrency" in bench.isvc()["status"]["scaleReason"]
    bench.traffic(concurrency=100.0)
    bench.announce_all()
    bench.advance(0.5)
    assert len(bench.replicas()) == 4


def test_idle_service_scales_to_zero_and_wakes_on_a_held_request(bench: ServingBench) -> None:
    bench.serve(minReplicas=0, maxReplicas=2, scaleToZeroAfterSeconds=10, scaleDownDelaySeconds=0)
    bench.announce_all()
    bench.traffic(concurrency=0.0)
    for _ in range(25):
        bench.advance(0.5)
    assert bench.replicas() == []
    ready = bench.ready()
    assert ready["status"] == "True" and ready["reason"] == "ScaledToZero"
    assert bench.endpoints() == {"iris-predictor-00001": []}

    bench.traffic(held=3, concurrency=3.0)
    bench.advance(0.5)
    [wid] = bench.replicas()
    port = bench.announce(wid)
    assert bench.endpoints() == {"iris-predictor-00001": [port]}


def test_canary_split_then_promote(bench: ServingBench) -> None:
    bench.serve()
    bench.announce_all()
    new_model = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m2.joblib")}
    bench.update(model=new_model, canaryTrafficPercent=20)
    assert bench.percents() == {"iris-predictor-00001": 80, "iris-predictor-00002": 20}
    bench.announce_all()
    assert bench.isvc()["status"]["previousRolledoutRevision"] == "iris-predictor-00001"
    assert len(bench.endpoints()["iris-predictor-00002"]) == 1

    bench.update(canaryTrafficPercent=None)  # promote
    assert bench.percents() == {"iris-predictor-00002": 100}
    assert len(bench.replicas()) == 1  # the old revision's replica was stopped


def test_canary_rollback_sends_everything_to_the_previous_revision(bench: ServingBench) -> None:
    bench.serve()
    bench.announce_all()
    new_model = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m2.joblib")}
    bench.update(model=new_model, canaryTrafficPercent=30)
    bench.announce_all()
    bench.update(canaryTrafficPercent=0)
    assert bench.percents() == {"iris-predictor-00001": 100, "iris-predictor-00002": 0}
    assert [w for w in bench.replicas() if "00002" in w] == []


def test_a_rollout_keeps_the_old_revision_serving_until_the_new_one_is_ready(
    bench: ServingBench,
) -> None:
    bench.serve()
    bench.announce_all()
    new_model = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m2.joblib")}
    bench.update(model=new_model)
    assert bench.percents() == {"iris-predictor-00001": 100, "iris-predictor-00002": 0}
    assert len(bench.replicas()) == 2
    bench.announce_all()
    assert bench.percents() == {"iris-predictor-00002": 100}


def test_a_missing_run_output_says_what_is_missing(bench: ServingBench) -> None:
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": "pipelinerun://nope/train/model"}
    bench.serve(model=model)
    ready = bench.ready()
    assert ready["reason"] == "ModelNotFound"
    assert "pipelinerun default/nope not found" in ready["message"]
    assert bench.replicas() == []


def test_replicas_share_the_node_with_steps(bench: ServingBench) -> None:
    bench.serve(minReplicas=3, maxReplicas=3, resources={"cpu": "2"})
    assert len(bench.replicas()) == 2  # 4 cores, 2 each
    revision = bench.isvc()["status"]["revisions"][0]
    assert revision["message"].startswith("Pending")


def test_a_request_the_node_can_never_hold_is_unschedulable(bench: ServingBench) -> None:
    bench.serve(resources={"nvidia.com/gpu": 9})
    ready = bench.ready()
    assert ready["status"] == "False" and ready["reason"] == "Unschedulable"
    assert bench.replicas() == []


def test_deleting_stops_replicas_and_removes_the_route(bench: ServingBench) -> None:
    bench.serve(minReplicas=2, maxReplicas=2)
    bench.announce_all()
    bench.store.delete(ISVC, "default", "iris")
    bench.settle()
    assert bench.replicas() == []
    assert bench.router.route("default/iris") is None
    assert [o["metadata"]["name"] for o in bench.store.list(ISVC)[0]] == []


def test_replicas_count_against_the_namespace_quota(bench: ServingBench) -> None:
    _one_core_queue(bench)
    bench.store.create(
        "resourceflavors.mlkube.io",
        {"apiVersion": "mlkube.io/v1alpha1", "kind": "ResourceFlavor", "metadata": {"name": "cpu"}},
    )
    bench.settle()
    bench.serve(minReplicas=2, maxReplicas=2, resources={"cpu": "1"})
    assert len(bench.replicas()) == 1  # the queue's whole quota is one core
    revision = bench.isvc()["status"]["revisions"][0]
    assert revision["message"].startswith("Pending: quota")
    # A pipeline step of the same team now waits behind the replica.
    bench.submit(
        [
            {
                "name": "s",
                "python": {"module": "mlkube.testing.steps", "function": "noop"},
                "resources": {"cpu": "1"},
            }
        ],
        cache=False,
    )
    assert bench.phases() == {"s": "Waiting"}


def test_replica_usage_is_recorded_in_the_revision_status(bench: ServingBench) -> None:
    bench.serve()
    [wid] = bench.replicas()
    bench.announce(wid)
    bench.runtime.set_usage(wid, Usage(0.5, 300 << 20, 0.8, 400 << 20, samples=3))
    bench.traffic(concurrency=1.0)
    bench.advance(0.5)
    usage = bench.isvc()["status"]["revisions"][0]["usage"]
    assert usage == {
        "cpuCoresAvg": 0.5,
        "cpuCoresMax": 0.5,
        "memoryBytesMax": 300 << 20,
        "samples": 1,
    }


def test_a_revision_dropped_while_its_replica_waits_for_room_is_forgotten(
    bench: ServingBench,
) -> None:
    bench.serve(resources={"cpu": "4"})  # the whole node
    bench.announce_all()
    second = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m2.joblib")}
    bench.update(model=second, canaryTrafficPercent=50)
    assert bench.isvc()["status"]["revisions"][1]["message"].startswith("Pending")
    third = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m3.joblib")}
    bench.update(model=third)
    assert bench.percents() == {"iris-predictor-00001": 50, "iris-predictor-00003": 50}
    assert "default/~iris/iris-predictor-00002.r0" not in bench.manager.runs.queue.waiting


def test_a_route_table_the_router_refused_is_sent_again(bench: ServingBench) -> None:
    bench.router.refuse = "router restarting"
    bench.serve()
    assert bench.router.tables == []
    bench.router.refuse = None
    bench.advance(1.0)  # the manager retries a failed reconcile with a backoff
    assert bench.endpoints() == {"iris-predictor-00001": []}


def test_a_restarted_controller_keeps_the_revisions_and_their_traffic(
    bench: ServingBench, tmp_path: Path
) -> None:
    bench.serve()
    bench.announce_all()
    second = {"modelFormat": {"name": "sklearn"}, "storageUri": bench.model("m2.joblib")}
    bench.update(model=second, canaryTrafficPercent=10)
    bench.announce_all()
    router = FakeRouter()
    again = Bench(tmp_path / "data2", store=bench.store, clock=bench.clock, router=router)
    again.manager.resync()
    again.settle()
    route = router.route("default/iris")
    assert route is not None
    assert {r.name: r.percent for r in route.revisions} == {
        "iris-predictor-00001": 90,
        "iris-predictor-00002": 10,
    }


def test_each_revision_keeps_the_resources_and_batching_it_was_made_with(
    bench: ServingBench,
) -> None:
    bench.serve(resources={"cpu": "1"}, batching={"maxBatchSize": 8})
    bench.announce_all()
    bench.update(resources={"cpu": "2"}, batching={"maxBatchSize": 64}, canaryTrafficPercent=50)
    bench.announce_all()
    [old] = [w for w in bench.replicas() if "00001" in w]
    bench.runtime.finish(old, exit_code=1, message="exit code 1")
    bench.advance(1.0)
    [again] = [w for w in bench.replicas() if "00001" in w]
    [new] = [w for w in bench.replicas() if "00002" in w]
    for wid, cores, batch in ((again, 1, "8"), (new, 2, "64")):
        spec = bench.runtime.spec(wid)
        assert spec.cpus is not None and len(spec.cpus) == cores
        assert spec.command is not None
        assert spec.command[spec.command.index("--max-batch-size") + 1] == batch
    revisions = bench.isvc()["status"]["revisions"]
    assert [r["resources"] for r in revisions] == [{"cpu": "1"}, {"cpu": "2"}]


def test_a_slow_first_start_is_not_taken_for_idleness(bench: ServingBench) -> None:
    bench.serve(minReplicas=0, maxReplicas=1, scaleToZeroAfterSeconds=1, scaleDownDelaySeconds=0)
    bench.traffic(concurrency=0.0)
    for _ in range(10):  # five idle seconds while the first replica loads its model
        bench.advance(0.5)
    [wid] = bench.replicas()
    bench.announce(wid)
    assert bench.ready()["reason"] == "Serving"
    for _ in range(4):
        bench.advance(0.5)
    assert bench.replicas() == []
    assert bench.ready()["reason"] == "ScaledToZero"


def _one_core_queue(bench: ServingBench) -> None:
    bench.store.create(
        "clusterqueues.mlkube.io",
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "ClusterQueue",
            "metadata": {"name": "team"},
            "spec": {
                "namespaces": ["default"],
                "resourceGroups": [
                    {
                        "flavors": [
                            {"name": "cpu", "resources": [{"name": "cpu", "nominalQuota": "1"}]}
                        ]
                    }
                ],
            },
        },
    )


def test_a_preempted_replica_waits_again_without_counting_as_a_crash(bench: ServingBench) -> None:
    _one_core_queue(bench)
    bench.store.create(
        "priorityclasses.scheduling.k8s.io",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "urgent"},
            "value": 1000,
        },
    )
    bench.settle()
    bench.serve(resources={"cpu": "1"})
    bench.announce_all()
    step = {"name": "s", "python": {"module": "mlkube.testing.steps", "function": "noop"}}
    bench.submit([{**step, "resources": {"cpu": "1"}}], cache=False, priorityClassName="urgent")
    assert bench.phases() == {"s": "Running"}
    assert bench.replicas() == []
    revision = bench.isvc()["status"]["revisions"][0]
    assert revision["restarts"] == 0
    assert revision["message"].startswith("Pending: quota")
    assert bench.ready()["reason"] == "ReplicasStarting"


def test_node_status_counts_running_replicas(bench: ServingBench) -> None:
    bench.serve(resources={"cpu": "1"})
    bench.advance(0.5)
    node = bench.store.list("nodes")[0][0]
    assert node["status"]["running"] == 1
    assert node["status"]["allocated"]["cpu"] == "1"
