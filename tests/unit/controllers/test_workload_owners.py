"""Which object a workload serves: the PipelineRun and TrainingJob controllers label each
workload with its run/step/attempt or job/worker/start and name the object as its owner, so a
cluster keeps the pod as long as that object and finds it by those labels."""

from __future__ import annotations

from pathlib import Path

from mlkube.runtime.base import WorkloadOwner
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_trainingjob import job, submit_job, workers_running


def test_a_step_attempt_is_labelled_and_owned_by_its_run(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.submit([py("fit")])
    (attempt,) = bench.running()
    spec = bench.runtime.spec(attempt)
    run = bench.run()
    assert dict(spec.labels) == {
        "mlkube.io/pipelinerun": run["metadata"]["name"],
        "mlkube.io/step": "fit",
        "mlkube.io/attempt": "1",
    }
    assert spec.owner == WorkloadOwner(
        "mlkube.io/v1alpha1", "PipelineRun", run["metadata"]["name"], run["metadata"]["uid"]
    )


def test_training_workers_are_labelled_by_rank_and_start_and_owned_by_their_job(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path)
    submit_job(bench, "mnist", workers=2)
    specs = [bench.runtime.spec(i) for i in workers_running(bench)]
    assert [dict(s.labels) for s in specs] == [
        {"mlkube.io/trainingjob": "mnist", "mlkube.io/worker": "0", "mlkube.io/start": "1"},
        {"mlkube.io/trainingjob": "mnist", "mlkube.io/worker": "1", "mlkube.io/start": "1"},
    ]
    uid = job(bench, "mnist")["metadata"]["uid"]
    owner = WorkloadOwner("mlkube.io/v1alpha1", "TrainingJob", "mnist", uid)
    assert {s.owner for s in specs} == {owner}
