"""Runs → samples per step → recommendations → the `mlkube recommend` table, over plain data."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from mlkube.api.meta import parse_time
from mlkube.autoscaling.rightsizing import (
    Recommendation,
    ResourceEstimate,
    UsageSample,
    memory_after_oom,
    recommend,
)
from mlkube.cli.recommend import recommend_table
from mlkube.sdk.rightsizing import (
    StepRecommendation,
    pipeline_of,
    recommendations,
    service_recommendations,
    step_histories,
)

MiB = 1 << 20
NOW = datetime(2026, 1, 10, tzinfo=UTC)
SPEC = [
    {"name": "prep", "resources": {"cpu": "2", "memory": "2Gi"}},
    {"name": "train", "resources": {"cpu": "1", "memory": "64Mi"}},
]


def run(
    name: str,
    *steps: dict[str, Any],
    created: str = "2026-01-09T00:00:00Z",
    spec: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A run of the `train` pipeline (by label) unless `meta` or a `pipelineRef` says else."""
    ref = meta.pop("ref", None)
    labels = meta.pop("labels", {"mlkube.io/pipeline": "train"})
    steps_spec = spec if spec is not None else SPEC
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": meta.pop("namespace", "ml"),
            "creationTimestamp": created,
            "labels": labels,
            **meta,
        },
        "spec": {"pipelineRef": {"name": ref}} if ref else {"pipelineSpec": {"steps": steps_spec}},
        "status": {"pipelineSpec": {"steps": steps_spec}, "steps": list(steps)},
    }
    return body


def done(
    name: str,
    finished: str = "2026-01-09T01:00:00Z",
    *,
    avg: float = 0.5,
    peak_cpu: float = 0.9,
    memory: int = 300 * MiB,
    **extra: Any,
) -> dict[str, Any]:
    """A step status that ran to the end with usage."""
    usage = {"cpuCoresAvg": avg, "cpuCoresMax": peak_cpu, "memoryBytesMax": memory, "samples": 4}
    return {"name": name, "phase": "Succeeded", "finishTime": finished, "usage": usage, **extra}


def at(text: str) -> float:
    return parse_time(text).timestamp()


@pytest.mark.parametrize(
    ("run_body", "pipeline"),
    [
        ({"spec": {"pipelineRef": {"name": "stored"}}, "metadata": {"name": "r"}}, "stored"),
        ({"metadata": {"name": "r", "labels": {"mlkube.io/pipeline": "sdk"}}}, "sdk"),
        ({"metadata": {"name": "squares-x7k2p", "generateName": "squares-"}}, "squares"),
        ({"metadata": {"name": "by-hand"}}, "by-hand"),
        (
            {
                "spec": {"pipelineRef": {"name": "stored"}},
                "metadata": {"name": "r", "labels": {"mlkube.io/pipeline": "other"}},
            },
            "stored",
        ),
    ],
)
def test_a_run_belongs_to_its_pipeline(run_body: dict[str, Any], pipeline: str) -> None:
    assert pipeline_of(run_body) == pipeline


def test_finished_steps_become_samples_mean_cpu_and_peak_cpu() -> None:
    (prep, train) = step_histories(
        [
            run("a", done("prep", "2026-01-08T01:00:00Z", avg=0.4, peak_cpu=1.5, memory=200 * MiB)),
            run("b", done("prep", "2026-01-09T01:00:00Z", avg=0.6, peak_cpu=0.9), done("train")),
        ]
    )
    assert (prep.namespace, prep.pipeline, prep.step) == ("ml", "train", "prep")
    assert prep.samples == [
        UsageSample(at("2026-01-08T01:00:00Z"), 0.4, 200 * MiB),
        UsageSample(at("2026-01-09T01:00:00Z"), 0.6, 300 * MiB),
    ]
    assert prep.peaks == [
        UsageSample(at("2026-01-08T01:00:00Z"), 1.5, 200 * MiB),
        UsageSample(at("2026-01-09T01:00:00Z"), 0.9, 300 * MiB),
    ]
    assert len(train.samples) == 1


def test_only_steps_that_ran_to_a_usable_end_count() -> None:
    usage = done("x")["usage"]
    steps = [
        done("prep", cached=True),
        {**done("train"), "phase": "Failed", "reason": "Error"},  # ended early, small
        {"name": "eval", "phase": "Running", "usage": usage},
        {"name": "push", "phase": "Skipped", "reason": "UpstreamFailed"},
        {"name": "tidy", "phase": "Succeeded", "finishTime": "2026-01-09T01:00:00Z"},
    ]
    histories = step_histories([run("a", *steps)])
    assert {h.step: len(h.samples) for h in histories} == dict.fromkeys(
        ["prep", "train", "eval", "push", "tidy"], 0
    )


def test_an_oom_killed_step_counts_with_the_vpa_bump() -> None:
    killed = {
        "name": "train",
        "phase": "Failed",
        "reason": "OOMKilled",
        "oomKills": 3,
        "finishTime": "2026-01-09T01:00:00Z",
        "placement": {"memoryBytes": 64 * MiB},
        "usage": {"cpuCoresAvg": 0.9, "cpuCoresMax": 1.0, "memoryBytesMax": 60 * MiB},
    }
    # Runs recorded before `oomKills` existed still count their OOM-killed end once.
    older = {k: v for k, v in killed.items() if k != "oomKills"}
    # A retry with more memory succeeded: its own peak is the sample; the kill still counts.
    recovered = done("train", memory=150 * MiB, oomKills=1, memoryLimitBytes=170 * MiB)
    (_, train) = step_histories([run("a", killed), run("b", older), run("c", recovered)])
    assert train.oom_kills == 5
    bumped = memory_after_oom(64 * MiB, 60 * MiB)
    assert [s.memory_bytes for s in train.samples] == [bumped, bumped, 150 * MiB]


def test_a_kill_without_placement_uses_the_spec_limit() -> None:
    killed = {
        "name": "train",
        "phase": "Failed",
        "reason": "OOMKilled",
        "finishTime": "2026-01-09T01:00:00Z",
        "usage": {"memoryBytesMax": 0},
    }
    (_, train) = step_histories([run("a", killed)])
    assert train.samples[0].memory_bytes == memory_after_oom(64 * MiB, 0)


def test_resources_come_from_the_newest_run_then_the_stored_pipeline() -> None:
    newer = [{"name": "train", "resources": {"cpu": "4"}}, {"name": "prep"}]
    runs = [
        run("new", created="2026-01-09T00:00:00Z", spec=newer),
        run("old", created="2026-01-01T00:00:00Z"),
    ]
    histories = step_histories(runs)
    assert [(h.step, dict(h.resources)) for h in histories] == [
        ("train", {"cpu": "4"}),
        ("prep", {}),
    ]
    stored = {
        "metadata": {"name": "train", "namespace": "ml"},
        "spec": {"steps": [{"name": "prep", "resources": {"cpu": "1"}}, {"name": "train"}]},
    }
    histories = step_histories(runs, pipelines=[stored])
    assert [(h.step, dict(h.resources)) for h in histories] == [
        ("prep", {"cpu": "1"}),
        ("train", {}),
    ]


def test_steps_are_grouped_by_namespace_and_pipeline() -> None:
    runs = [
        run("b1", done("prep"), ref="beta"),
        run("a1", done("prep"), namespace="other"),
        run("a2", done("prep")),
        run("a3", done("prep")),
    ]
    keys = [(h.namespace, h.pipeline, h.step, len(h.samples)) for h in step_histories(runs)]
    assert keys == [
        ("ml", "beta", "prep", 1),
        ("ml", "beta", "train", 0),
        ("ml", "train", "prep", 2),
        ("ml", "train", "train", 0),
        ("other", "train", "prep", 1),
        ("other", "train", "train", 0),
    ]


def test_recommendations_are_the_policys_with_bursts_in_the_upper_bound() -> None:
    finishes = [f"2026-01-0{d}T01:00:00Z" for d in range(3, 10)]
    steps = [
        done("prep", f, avg=0.5 + i / 100, peak_cpu=0.9, memory=(300 + i) * MiB)
        for i, f in enumerate(finishes)
    ]
    rows = recommendations([run(f"r{i}", s) for i, s in enumerate(steps)], now=NOW)
    prep = rows[0]
    means = [UsageSample(at(f), 0.5 + i / 100, (300 + i) * MiB) for i, f in enumerate(finishes)]
    policy = recommend(means, now=NOW.timestamp())
    assert policy is not None and prep.recommendation is not None
    assert prep.recommendation.target == policy.target
    assert prep.recommendation.lower_bound == policy.lower_bound
    assert prep.recommendation.upper_bound.memory_bytes == policy.upper_bound.memory_bytes
    # The sampled peaks (0.9 cores) set the CPU upper bound, well above the means' 0.5.
    assert prep.recommendation.upper_bound.cpu_millis > 900 > policy.upper_bound.cpu_millis
    assert (prep.runs, prep.recorded, prep.cpu_request, prep.memory_request) == (7, 7, "2", "2Gi")
    assert prep.last_finished == datetime(2026, 1, 9, 1, tzinfo=UTC)
    assert prep.notes() == ["cpu over-provisioned 3x", "memory over-provisioned 5.4x"]


def test_without_recent_usage_there_is_no_recommendation() -> None:
    old = done("prep", "2025-12-01T00:00:00Z")
    prep, train = recommendations([run("a", old)], now=NOW)
    assert (prep.recommendation, prep.runs, prep.recorded) == (None, 0, 1)
    assert prep.notes() == ["no recent usage"]
    assert train.notes() == ["no usage recorded"]


def estimate(cpu: int, memory_mib: int) -> ResourceEstimate:
    return ResourceEstimate(cpu_millis=cpu, memory_bytes=memory_mib * MiB)


def row(cpu: str | None, memory: str | None, *, oom_kills: int = 0) -> StepRecommendation:
    """A row whose recommendation is 500m (400m-1)  and 200Mi (180Mi-220Mi)."""
    rec = Recommendation(estimate(500, 200), estimate(400, 180), estimate(1000, 220), samples=5)
    return StepRecommendation(
        "ml", "train", "fit", 5, 5, oom_kills, cpu, memory, rec, datetime(2026, 1, 9, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("cpu", "memory", "oom_kills", "notes"),
    [
        ("2", "2Gi", 0, ["cpu over-provisioned 4x", "memory over-provisioned 10x"]),
        ("700m", "256Mi", 0, []),  # above the bounds, but not far from the target
        ("500m", "210Mi", 0, []),
        ("350m", "150Mi", 0, ["memory under-provisioned 1.33x"]),  # CPU is only throttled
        ("250m", "200Mi", 0, ["cpu under-provisioned 2x"]),
        (None, None, 0, []),
        ("500m", "64Mi", 2, ["under: OOMKilled 2x"]),
        ("500m", None, 1, ["under: OOMKilled 1x"]),
        ("500m", "256Mi", 2, []),  # raised since: the kills are settled
    ],
)
def test_notes_say_when_a_request_is_far_off(
    cpu: str | None, memory: str | None, oom_kills: int, notes: list[str]
) -> None:
    assert row(cpu, memory, oom_kills=oom_kills).notes() == notes


def test_the_json_form() -> None:
    assert row("2", None, oom_kills=1).to_dict() == {
        "namespace": "ml",
        "pipeline": "train",
        "step": "fit",
        "runs": 5,
        "recorded": 5,
        "oomKills": 1,
        "requests": {"cpu": "2"},
        "lastFinished": "2026-01-09T00:00:00Z",
        "target": {"cpu": "500m", "memory": "200Mi"},
        "lowerBound": {"cpu": "400m", "memory": "180Mi"},
        "upperBound": {"cpu": "1", "memory": "220Mi"},
        "notes": ["under: OOMKilled 1x", "cpu over-provisioned 4x"],
    }


def text(table: Any) -> list[str]:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_the_table() -> None:
    none = StepRecommendation("ml", "train", "eval", 0, 0, 0, None, None, None, None)
    assert text(recommend_table([row("2", "64Mi", oom_kills=2), none])) == [
        "PIPELINE  STEP  RUNS  CPU REQUEST  CPU TARGET     MEMORY REQUEST  MEMORY TARGET        "
        "NOTE",
        "train     fit   5     2            500m (400m-1)  64Mi            200Mi (180Mi-220Mi)  "
        "under: OOMKilled 2x; cpu over-provisioned 4x",
        "train     eval  0     -            -              -               -                    "
        "no usage recorded",
    ]


def test_the_wide_table_across_namespaces() -> None:
    table = recommend_table([row("500m", "200Mi")], all_namespaces=True, wide=True, now=NOW)
    assert text(table) == [
        "NAMESPACE  PIPELINE  STEP  RUNS  CPU REQUEST  CPU TARGET     MEMORY REQUEST  "
        "MEMORY TARGET        OOM KILLS  LAST RUN  NOTE",
        "ml         train     fit   5     500m         500m (400m-1)  200Mi           "
        "200Mi (180Mi-220Mi)  0          1d",
    ]


def test_serving_revisions_get_rows_from_their_replicas_usage() -> None:
    isvc = {
        "metadata": {"name": "iris", "namespace": "team"},
        # The spec has moved on: the revision is judged by what it runs with.
        "spec": {"predictor": {"resources": {"cpu": "1"}}},
        "status": {
            "revisions": [
                {
                    "name": "iris-predictor-00001",
                    "resources": {"cpu": "4", "memory": "4Gi"},
                    "usage": {
                        "cpuCoresAvg": 0.2,
                        "cpuCoresMax": 0.9,
                        "memoryBytesMax": 300 << 20,
                        "samples": 40,
                    },
                },
                {"name": "iris-predictor-00002"},
            ]
        },
    }
    [row] = service_recommendations([isvc], now=datetime(2026, 11, 28, tzinfo=UTC))
    assert (row.namespace, row.pipeline, row.step) == ("team", "isvc/iris", "iris-predictor-00001")
    assert row.cpu_request == "4" and row.memory_request == "4Gi"
    assert (row.runs, row.recorded) == (1, 1)  # one summary over all its replicas
    assert row.recommendation is not None
    target = row.recommendation.target
    assert 200 <= target.cpu_millis <= 260  # 0.2 cores, rounded to its bucket, plus 15%
    assert 300 << 20 <= target.memory_bytes <= 380 << 20
    # The replicas' peak CPU (0.9 cores) sets the CPU upper bound, as for pipeline steps.
    assert row.recommendation.upper_bound.cpu_millis > 900
    assert row.notes() == ["cpu over-provisioned 16x", "memory over-provisioned 12x"]
