"""Right-sizing per pipeline step: the usage finished steps recorded, turned into VPA-style
recommendations (`mlkube.autoscaling.rightsizing`) next to what the step asks for now.

Pure: runs and pipelines come in as the API serves them, the time is an argument.

- A step's *pipeline* is `spec.pipelineRef.name`; for an inline spec, the `mlkube.io/pipeline`
  label (`mlkube run` sets it), else `metadata.generateName` without its trailing `-`, else
  the run's own name (a hand-named inline run is a pipeline of its own).
- One step run gives one sample, stamped with its `finishTime`: memory is its peak
  (`memoryBytesMax`); CPU is its lifetime mean (`cpuCoresAvg`) for the target and the lower
  bound, since CPU is compressible and a mean over the run is what `UsageSample` means by CPU
  averaged over the sample interval; the upper bound's CPU comes from the same histogram fed
  with the step's sampled peaks (`cpuCoresMax`), so bursts still show.
- Samples come from steps that succeeded and from steps whose last attempt was OOM-killed;
  for those the memory sample is VPA's bump (`memory_after_oom` of the limit and the peak),
  since a peak measured under a limit says only that the limit was too small. Other failures
  stopped early for reasons unrelated to size and would drag the target down; cached and
  skipped steps did not run.
- What a step asks for now is its resources in the stored Pipeline when there is one, else in
  the newest run's spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlkube.api.meta import format_time, parse_time
from mlkube.api.quantity import cpu_millis, memory_bytes
from mlkube.autoscaling.rightsizing import (
    Recommendation,
    ResourceEstimate,
    RightsizingConfig,
    UsageSample,
    memory_after_oom,
    recommend,
)

__all__ = [
    "DEFAULT_CONFIG",
    "FAR_OFF",
    "PIPELINE_LABEL",
    "StepHistory",
    "StepRecommendation",
    "pipeline_of",
    "recommend_for",
    "recommendations",
    "service_recommendations",
    "step_histories",
]

#: The label `mlkube run` puts on the runs it submits: the name of the `@pipeline`.
PIPELINE_LABEL = "mlkube.io/pipeline"
#: A request outside the bounds is remarked on only when it is this many times off the target
#: (memory below the lower bound excepted): with a few tight samples the bounds sit within 5%
#: of the target, and a little more CPU than needed is the margin a pinned step runs with.
FAR_OFF = 1.5
#: VPA's recommender defaults.
DEFAULT_CONFIG = RightsizingConfig()
_USED = frozenset({"Succeeded", "Failed"})


@dataclass
class StepHistory:
    """What the runs say about one step of one pipeline in one namespace."""

    namespace: str
    pipeline: str
    step: str
    samples: list[UsageSample] = field(default_factory=list)  # mean CPU, peak memory
    peaks: list[UsageSample] = field(default_factory=list)  # peak CPU, peak memory
    oom_kills: int = 0
    resources: Mapping[str, Any] = field(default_factory=dict)  # what it asks for now
    position: int = 0  # the step's place in the spec those resources came from
    spec_from: str | None = None  # creationTimestamp of the run they came from, if any


@dataclass(frozen=True)
class StepRecommendation:
    """One row of `mlkube recommend`: the step, what it asks for, what it should ask for.

    `runs` counts the samples the recommendation rests on (inside the history window),
    `recorded` every usable step run on record; `oom_kills` counts attempts killed for memory.
    `cpu_request` and `memory_request` are the spec's quantities as written, None when unset;
    `recommendation` is None when no sample falls inside the history window.
    """

    namespace: str
    pipeline: str
    step: str
    runs: int
    recorded: int
    oom_kills: int
    cpu_request: str | None
    memory_request: str | None
    recommendation: Recommendation | None
    last_finished: datetime | None

    def notes(self) -> list[str]:
        """Short remarks on a request far off its recommendation. OOM kills are named while
        the memory asked for is still below the target (a raised request settles them)."""
        rec = self.recommendation
        memory = None if self.memory_request is None else memory_bytes(self.memory_request)
        short = rec is None or memory is None or memory < rec.target.memory_bytes
        notes = [f"under: OOMKilled {self.oom_kills}x"] if self.oom_kills and short else []
        if rec is None:
            return [*notes, "no recent usage" if self.recorded else "no usage recorded"]
        if self.cpu_request is not None:
            notes += _far_off("cpu", cpu_millis(self.cpu_request), rec, "cpu_millis")
        if memory is not None and not (self.oom_kills and short):
            notes += _far_off("memory", memory, rec, "memory_bytes")
        return notes

    def to_dict(self) -> dict[str, Any]:
        """The JSON form for `-o json` / `-o yaml` (camelCase, unset values left out)."""
        requests = {"cpu": self.cpu_request, "memory": self.memory_request}
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "pipeline": self.pipeline,
            "step": self.step,
            "runs": self.runs,
            "recorded": self.recorded,
            "oomKills": self.oom_kills,
            "requests": {k: v for k, v in requests.items() if v is not None},
        }
        if self.last_finished is not None:
            body["lastFinished"] = format_time(self.last_finished)
        rec = self.recommendation
        if rec is not None:
            body["target"] = rec.target.as_requests()
            body["lowerBound"] = rec.lower_bound.as_requests()
            body["upperBound"] = rec.upper_bound.as_requests()
        body["notes"] = self.notes()
        return body


def pipeline_of(run: Mapping[str, Any]) -> str:
    """The pipeline a run belongs to (see the module docstring for the order of sources)."""
    ref = (run.get("spec") or {}).get("pipelineRef") or {}
    meta = run.get("metadata") or {}
    labels = meta.get("labels") or {}
    generated = (meta.get("generateName") or "").rstrip("-")
    return str(ref.get("name") or labels.get(PIPELINE_LABEL) or generated or meta.get("name", ""))


def step_histories(
    runs: Iterable[Mapping[str, Any]], *, pipelines: Iterable[Mapping[str, Any]] = ()
) -> list[StepHistory]:
    """Every (namespace, pipeline, step) the runs mention, with its samples, OOM kills and
    current resources; sorted by namespace, pipeline, then the step's place in the spec."""
    table: dict[tuple[str, str, str], StepHistory] = {}
    for run in runs:
        meta = run.get("metadata") or {}
        namespace, pipeline = meta.get("namespace", ""), pipeline_of(run)
        created = meta.get("creationTimestamp") or ""
        status = run.get("status") or {}
        spec = status.get("pipelineSpec") or (run.get("spec") or {}).get("pipelineSpec") or {}
        for position, step in enumerate(spec.get("steps") or []):
            history = _history(table, namespace, pipeline, step["name"])
            if history.spec_from is None or created >= history.spec_from:
                history.resources, history.position = step.get("resources") or {}, position
                history.spec_from = created
        specs = {s["name"]: s for s in spec.get("steps") or []}
        for st in status.get("steps") or []:
            history = _history(table, namespace, pipeline, st["name"])
            _record(history, st, specs.get(st["name"], {}))
    for stored in pipelines:
        _take_stored(table, stored)
    return sorted(table.values(), key=lambda h: (h.namespace, h.pipeline, h.position, h.step))


def recommendations(
    runs: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    pipelines: Iterable[Mapping[str, Any]] = (),
    config: RightsizingConfig = DEFAULT_CONFIG,
) -> list[StepRecommendation]:
    """One `StepRecommendation` per step the runs mention, in `step_histories` order."""
    moment = now.timestamp()
    return [
        _recommendation(h, now=moment, config=config)
        for h in step_histories(runs, pipelines=pipelines)
    ]


def service_recommendations(
    services: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    config: RightsizingConfig = DEFAULT_CONFIG,
) -> list[StepRecommendation]:
    """One row per InferenceService revision whose replicas recorded usage: the "pipeline"
    column reads `isvc/NAME` and the "step" column the revision, beside the resources that
    revision runs with. A revision's usage is one
    summary over all its replicas' samples (mean CPU, peak CPU, peak memory), so it counts as
    one sample stamped now."""
    moment = now.timestamp()
    rows = []
    for obj in services:
        meta = obj.get("metadata") or {}
        for revision in (obj.get("status") or {}).get("revisions") or []:
            usage = revision.get("usage")
            if not usage:
                continue
            history = StepHistory(
                meta.get("namespace", ""),
                f"isvc/{meta.get('name')}",
                revision["name"],
                resources=revision.get("resources") or {},
            )
            _add_sample(history, usage, at=moment, memory=int(usage.get("memoryBytesMax") or 0))
            rows.append(_recommendation(history, now=moment, config=config))
    return rows


def recommend_for(
    history: StepHistory, *, now: float, config: RightsizingConfig = DEFAULT_CONFIG
) -> Recommendation | None:
    """The policy's recommendation from the mean-CPU samples, with the upper bound's CPU
    taken from the peak-CPU samples when that is higher. None without a recent sample."""
    rec = recommend(history.samples, now=now, config=config)
    bursts = recommend(history.peaks, now=now, config=config)
    if rec is None or bursts is None:
        return rec
    upper = rec.upper_bound
    cpu = max(upper.cpu_millis, bursts.upper_bound.cpu_millis)
    return Recommendation(
        target=rec.target,
        lower_bound=rec.lower_bound,
        upper_bound=ResourceEstimate(cpu_millis=cpu, memory_bytes=upper.memory_bytes),
        samples=rec.samples,
    )


def _history(
    table: dict[tuple[str, str, str], StepHistory], namespace: str, pipeline: str, step: str
) -> StepHistory:
    key = (namespace, pipeline, step)
    if key not in table:
        table[key] = StepHistory(namespace, pipeline, step)
    return table[key]


def _record(history: StepHistory, st: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Add one step status: its OOM kills, and a sample when it ran to a usable end."""
    oom_killed = st.get("reason") == "OOMKilled"
    history.oom_kills += max(int(st.get("oomKills") or 0), int(oom_killed))
    usage = st.get("usage")
    if st.get("phase") not in _USED or st.get("cached") or not usage or not st.get("finishTime"):
        return
    if st["phase"] == "Failed" and not oom_killed:
        return
    peak = int(usage.get("memoryBytesMax") or 0)
    if oom_killed:
        limit = int((st.get("placement") or {}).get("memoryBytes") or 0)
        limit = limit or memory_bytes((spec.get("resources") or {}).get("memory") or 0)
        peak = memory_after_oom(limit, peak)
    _add_sample(history, usage, at=parse_time(st["finishTime"]).timestamp(), memory=peak)


def _add_sample(history: StepHistory, usage: Mapping[str, Any], *, at: float, memory: int) -> None:
    """One usage summary (`cpuCoresAvg`, `cpuCoresMax`) as a mean-CPU and a peak-CPU sample,
    both with `memory` bytes."""
    history.samples.append(UsageSample(at, float(usage.get("cpuCoresAvg") or 0.0), memory))
    history.peaks.append(UsageSample(at, float(usage.get("cpuCoresMax") or 0.0), memory))


def _take_stored(
    table: dict[tuple[str, str, str], StepHistory], pipeline: Mapping[str, Any]
) -> None:
    """A stored Pipeline is what its steps ask for now, whatever older runs recorded."""
    meta = pipeline.get("metadata") or {}
    key = (meta.get("namespace", ""), meta.get("name", ""))
    for position, step in enumerate((pipeline.get("spec") or {}).get("steps") or []):
        history = table.get((*key, step["name"]))
        if history is not None:
            history.resources, history.position = step.get("resources") or {}, position


def _recommendation(
    history: StepHistory, *, now: float, config: RightsizingConfig
) -> StepRecommendation:
    rec = recommend_for(history, now=now, config=config)
    cpu, memory = history.resources.get("cpu"), history.resources.get("memory")
    last = max((s.at for s in history.samples), default=None)
    return StepRecommendation(
        namespace=history.namespace,
        pipeline=history.pipeline,
        step=history.step,
        runs=rec.samples if rec is not None else 0,
        recorded=len(history.samples),
        oom_kills=history.oom_kills,
        cpu_request=None if cpu is None else str(cpu),
        memory_request=None if memory is None else str(memory),
        recommendation=rec,
        last_finished=None if last is None else datetime.fromtimestamp(last, UTC),
    )


def _far_off(name: str, request: int, rec: Recommendation, unit: str) -> list[str]:
    """`["cpu over-provisioned 4x"]` when the request is above the upper bound and at least
    `FAR_OFF` times the target; `["memory under-provisioned 1.3x"]` when it is below the lower
    bound: for memory, a hard limit, by any amount; for CPU, which is only throttled, by at
    least `FAR_OFF`. Else []."""
    target = getattr(rec.target, unit)
    if request > getattr(rec.upper_bound, unit) and request >= FAR_OFF * target:
        return [f"{name} over-provisioned {_times(request / target)}"]
    far = name == "memory" or target >= FAR_OFF * request
    if 0 < request < getattr(rec.lower_bound, unit) and far:
        return [f"{name} under-provisioned {_times(target / request)}"]
    return []


def _times(ratio: float) -> str:
    """`1.04x`, `3.9x`, `12x`: enough digits to tell a ratio from 1."""
    digits = 2 if ratio < 2 else 1 if ratio < 10 else 0
    text = f"{ratio:.{digits}f}"
    return (text.rstrip("0").rstrip(".") if digits else text) + "x"
