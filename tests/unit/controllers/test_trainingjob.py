"""The TrainingJob controller on the bench: gang admission, start, failure policy, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlkube.api.kinds import TRAINING_JOB
from mlkube.controllers.trainingjob.controller import FINALIZER
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_quotas import flavor, queue

JOBS = TRAINING_JOB.resource


def submit_job(bench: Bench, name: str = "tj", *, workers: int = 2, **spec: Any) -> None:
    body = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "workers": workers,
            "python": {"module": "mlkube.testing.gang", "function": "rendezvous"},
            "resources": {"cpu": "1"},
            **spec,
        },
    }
    bench.store.create(JOBS, body)
    bench.settle()


def job(bench: Bench, name: str = "tj") -> dict[str, Any]:
    return bench.store.get(JOBS, "default", name)


def status(bench: Bench, name: str = "tj") -> dict[str, Any]:
    result: dict[str, Any] = job(bench, name).get("status") or {}
    return result


def workers_running(bench: Bench) -> list[str]:
    return [w for w in sorted(bench.runtime.running()) if "/@" in w]


def condition(bench: Bench, type_: str, name: str = "tj") -> dict[str, Any]:
    return next(c for c in status(bench, name)["conditions"] if c["type"] == type_)


def test_all_workers_start_together_with_the_distributed_environment(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit_job(bench, workers=3, env=[{"name": "EXTRA", "value": "x"}])
    ids = workers_running(bench)
    assert [i.rsplit("/", 2)[1:] for i in ids] == [["w0", "1"], ["w1", "1"], ["w2", "1"]]
    envs = [bench.runtime.spec(i).env for i in ids]
    assert [e["RANK"] for e in envs] == ["0", "1", "2"]
    assert {e["WORLD_SIZE"] for e in envs} == {"3"}
    assert {e["MASTER_ADDR"] for e in envs} == {"127.0.0.1"}
    assert len({e["MASTER_PORT"] for e in envs}) == 1
    assert {e["MLKUBE_JOB_NAME"] for e in envs} == {"tj"}
    assert {e["EXTRA"] for e in envs} == {"x"}
    cores = [c for i in ids for c in bench.runtime.spec(i).cpus or ()]
    assert sorted(cores) == [0, 1, 2]
    st = status(bench)
    assert st["phase"] == "Running"
    assert [w["pid"] for w in st["workers"]] == [
        bench.runtime.launch(bench.runtime.spec(i)) for i in ids
    ]
    assert condition(bench, "Admitted")["status"] == "True"
    assert FINALIZER in job(bench)["metadata"]["finalizers"]
    for i in ids:
        bench.runtime.finish(i, 0)
    bench.settle()
    st = status(bench)
    assert st["phase"] == "Succeeded"
    assert condition(bench, "Succeeded")["reason"] == "AllWorkersSucceeded"
    assert all(w["finishTime"] and w["placement"]["cpus"] for w in st["workers"])


def test_a_gang_that_does_not_fit_waits_whole_until_all_workers_fit(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.submit([py("hog", resources={"cpu": "3"})], cache=False)
    submit_job(bench, workers=2)
    assert workers_running(bench) == []
    st = status(bench)
    assert st["phase"] == "Pending"
    assert st["waitReason"].startswith("waiting for CPU")
    assert condition(bench, "Admitted")["status"] == "False"
    (hog,) = bench.running("hog")
    bench.complete(hog)
    assert len(workers_running(bench)) == 2
    assert status(bench)["phase"] == "Running"


def test_a_failed_worker_restarts_the_gang_up_to_the_backoff_limit(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit_job(bench, workers=2, runPolicy={"backoffLimit": 1})
    first = workers_running(bench)
    bench.runtime.finish(first[1], 1, message="exit code 1")
    bench.settle()
    assert (first[0], bench.manager.runs.stop_grace_seconds) in bench.runtime.stops
    second = workers_running(bench)
    assert [i.rsplit("/", 1)[1] for i in second] == ["2", "2"]
    st = status(bench)
    assert (st["restarts"], st["starts"], st["phase"]) == (1, 2, "Running")
    bench.runtime.finish(second[0], 3, message="exit code 3")
    bench.settle()
    st = status(bench)
    assert st["phase"] == "Failed"
    assert workers_running(bench) == []
    failed = condition(bench, "Failed")
    assert failed["reason"] == "Error"
    assert failed["message"].startswith("worker 0 exit code 3")
    assert [w["phase"] for w in st["workers"]] == ["Failed", "Stopped"]


def test_the_deadline_stops_the_gang_and_fails_the_job(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit_job(bench, runPolicy={"activeDeadlineSeconds": 10})
    assert len(workers_running(bench)) == 2
    bench.advance(11)
    assert workers_running(bench) == []
    assert status(bench)["phase"] == "Failed"
    assert condition(bench, "Failed")["reason"] == "DeadlineExceeded"


def test_a_gang_bigger_than_the_node_is_unschedulable(tmp_path: Path) -> None:
    # The API refuses such a job at create; this is the case of a node that shrank since.
    bench = Bench(tmp_path)
    submit_job(bench, workers=3, resources={"cpu": "2"})
    assert bench.runtime.launched == []
    failed = condition(bench, "Failed")
    assert (failed["reason"], failed["message"]) == (
        "Unschedulable",
        "3 workers \N{MULTIPLICATION SIGN} 2 cpu = 6 CPUs; the node has 4",
    )


def test_a_missing_priority_class_fails_the_job(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit_job(bench, priorityClassName="vip")
    assert condition(bench, "Failed")["reason"] == "PriorityClassNotFound"


def test_quota_admits_the_gang_as_one_workload(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("f", cpu="1")])
    )
    bench.settle()
    submit_job(bench, workers=2)
    assert workers_running(bench) == []
    assert status(bench)["waitReason"].startswith("quota: ")
    raised = bench.store.get("clusterqueues.mlkube.io", "", "team")
    raised["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "2"
    bench.store.update("clusterqueues.mlkube.io", raised)
    bench.settle()
    assert len(workers_running(bench)) == 2
    status_ = bench.store.get("clusterqueues.mlkube.io", "", "team").get("status") or {}
    assert status_.get("flavorsUsage", [{}])[0].get("resources", {}).get("cpu") == "2"


def test_delete_stops_the_workers_then_the_job_goes(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit_job(bench)
    ids = workers_running(bench)
    bench.store.delete(JOBS, "default", "tj")
    bench.settle()
    assert {s[0] for s in bench.runtime.stops} == set(ids)
    assert workers_running(bench) == []
    assert bench.store.list(JOBS)[0] == []
    assert bench.manager.runs.queue.running == {}


def test_a_platform_restart_starts_the_gang_again_without_counting_a_failure(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path)
    submit_job(bench)
    assert status(bench)["phase"] == "Running"
    # A new manager over the same store: the old workers died with the old process.
    fresh = Bench(tmp_path, store=bench.store, clock=bench.clock)
    fresh.manager.resync()
    fresh.settle()
    ids = workers_running(fresh)
    assert [i.rsplit("/", 1)[1] for i in ids] == ["2", "2"]
    st = status(fresh)
    assert (st["phase"], st["restarts"], st["starts"]) == ("Running", 0, 2)
