"""Right-sizing: CPU and memory requests recommended from observed usage, after the Kubernetes
Vertical Pod Autoscaler's recommender.

Usage samples go into decaying histograms with exponential buckets (5% apart, so a percentile
is exact to within 5%), each sample weighted by `2 ** ((at - reference) / half_life)`: a sample
one half-life older counts half as much. Requests come from percentiles of those histograms
plus a safety margin: the target from P90, the lower bound from P50, the upper bound from P95.
A container killed for memory gets `memory_after_oom`, VPA's bump.

Pure: time is always an argument, and a histogram is plain data (`to_dict` / `from_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mlkube.api.quantity import format_bytes, format_millis

__all__ = [
    "CPU_BUCKETS",
    "MEMORY_BUCKETS",
    "Buckets",
    "DecayingHistogram",
    "MiB",
    "Recommendation",
    "ResourceEstimate",
    "RightsizingConfig",
    "UsageSample",
    "memory_after_oom",
    "recommend",
    "recommend_from",
]

MiB = 2**20
_DAY = 24 * 3600.0
# VPA renormalizes once weights grow by 2**100, long before a float overflows.
_MAX_DECAY_EXPONENT = 100
# VPA's epsilon: a histogram whose total weight is below it holds nothing worth a percentile.
_EPSILON = 1e-4


@dataclass(frozen=True)
class Buckets:
    """Exponential buckets: bucket 0 is `[0, first)`, each next one `ratio` times wider;
    values past `max_value` land in the last bucket."""

    first: float
    max_value: float
    ratio: float = 1.05

    @cached_property
    def count(self) -> int:
        """How many buckets there are, the last one open-ended."""
        return (
            math.ceil(math.log(self.max_value * (self.ratio - 1) / self.first + 1, self.ratio)) + 1
        )

    def start(self, index: int) -> float:
        """The lowest value of bucket `index`."""
        return self.first * (self.ratio**index - 1) / (self.ratio - 1)

    def index(self, value: float) -> int:
        """The bucket that holds `value` (non-negative)."""
        if value < self.first:
            return 0
        i = int(math.log(value * (self.ratio - 1) / self.first + 1, self.ratio))
        # The logarithm can land one bucket short on an exact bucket start.
        if i + 1 < self.count and self.start(i + 1) <= value:
            i += 1
        return min(i, self.count - 1)

    def errors(self) -> list[str]:
        """Problems with these buckets, one message per field; empty if valid."""
        errors = []
        if not (math.isfinite(self.first) and self.first > 0):
            errors.append(f"first: must be a positive number (got {self.first})")
        if not (math.isfinite(self.max_value) and self.max_value > self.first > 0):
            errors.append(f"max_value: must be a number above first (got {self.max_value})")
        if not (math.isfinite(self.ratio) and self.ratio > 1):
            errors.append(f"ratio: must be a number above 1 (got {self.ratio})")
        return errors


#: VPA's CPU buckets: from 0.01 cores, 5% apart, up to 1000 cores (in cores).
CPU_BUCKETS = Buckets(first=0.01, max_value=1000.0)
#: VPA-like memory buckets: from 10 MiB, 5% apart, up to 1 TiB (in bytes).
MEMORY_BUCKETS = Buckets(first=10.0 * MiB, max_value=float(2**40))


class DecayingHistogram:
    """A histogram whose samples lose half their weight every `half_life_s` seconds.

    Weights are kept relative to `reference`, which moves forward (in whole half-lives) only
    when a new sample would make them too large; percentiles do not depend on it.
    """

    def __init__(
        self, buckets: Buckets, *, half_life_s: float = _DAY, reference: float = 0.0
    ) -> None:
        errors = buckets.errors()
        if not (math.isfinite(half_life_s) and half_life_s > 0):
            errors.append(f"half_life_s: must be a positive number (got {half_life_s})")
        if not math.isfinite(reference):
            errors.append(f"reference: must be a finite number (got {reference})")
        if errors:
            raise ValueError("; ".join(errors))
        self.buckets = buckets
        self.half_life_s = half_life_s
        self._reference = reference
        self._weights: dict[int, float] = {}
        self._count = 0

    @property
    def reference(self) -> float:
        """The time at which a sample of weight 1 counts exactly 1."""
        return self._reference

    @property
    def count(self) -> int:
        """How many samples were added, however much they have decayed."""
        return self._count

    @property
    def total_weight(self) -> float:
        """The sum of the decayed weights, relative to `reference`."""
        return math.fsum(self._weights.values())

    @property
    def is_empty(self) -> bool:
        """True when no sample carries weight enough to give a percentile."""
        return self.total_weight < _EPSILON

    def add(self, value: float, weight: float = 1.0, *, at: float) -> None:
        """Count `value` with `weight` as observed at time `at` (seconds). Raises `ValueError`
        for a negative or non-finite value or weight, or a non-finite time."""
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"value: must be a non-negative number (got {value})")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight: must be a non-negative number (got {weight})")
        if not math.isfinite(at):
            raise ValueError(f"at: must be a finite number (got {at})")
        if (at - self._reference) / self.half_life_s > _MAX_DECAY_EXPONENT:
            self._shift_reference(at)
        decayed = weight * 2.0 ** ((at - self._reference) / self.half_life_s)
        index = self.buckets.index(value)
        self._weights[index] = self._weights.get(index, 0.0) + decayed
        self._count += 1

    def percentile(self, p: float) -> float:
        """The value below which a fraction `p` (0..1) of the weight lies, as VPA gives it: the
        end of the bucket where that fraction is reached (the start of the open last bucket).
        0.0 when empty. Raises `ValueError` when `p` is outside 0..1."""
        if not 0 <= p <= 1:
            raise ValueError(f"percentile: must be between 0 and 1 (got {p})")
        if self.is_empty:
            return 0.0
        indexes = sorted(i for i, w in self._weights.items() if w > 0)
        threshold = p * self.total_weight
        partial = 0.0
        for index in indexes:
            partial += self._weights[index]
            if partial >= threshold:
                break
        last = self.buckets.count - 1
        return self.buckets.start(index if index == last else index + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `from_dict(to_dict())` gives an equal histogram."""
        return {
            "buckets": {
                "first": self.buckets.first,
                "maxValue": self.buckets.max_value,
                "ratio": self.buckets.ratio,
            },
            "halfLifeSeconds": self.half_life_s,
            "reference": self._reference,
            "count": self._count,
            "weights": [[i, w] for i, w in sorted(self._weights.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecayingHistogram:
        """The histogram `to_dict` wrote. Raises `ValueError` naming the key that is wrong."""
        try:
            spec = data["buckets"]
            buckets = Buckets(float(spec["first"]), float(spec["maxValue"]), float(spec["ratio"]))
            hist = cls(
                buckets,
                half_life_s=float(data["halfLifeSeconds"]),
                reference=float(data["reference"]),
            )
            count = int(data.get("count", 0))
            weights = {int(i): float(w) for i, w in data.get("weights", [])}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a stored histogram: {error}") from None
        for i, w in weights.items():
            if not (0 <= i < buckets.count and math.isfinite(w) and w >= 0):
                raise ValueError(f"weights: bucket {i} with weight {w} is out of range")
        if count < 0:
            raise ValueError(f"count: must not be negative (got {count})")
        hist._weights, hist._count = weights, count
        return hist

    def __repr__(self) -> str:
        return (
            f"DecayingHistogram(count={self._count}, total_weight={self.total_weight:.4g}, "
            f"reference={self._reference:g})"
        )

    def _shift_reference(self, at: float) -> None:
        # Whole half-lives, so the rescale is an exact power of two.
        new = self._reference + math.floor((at - self._reference) / self.half_life_s) * (
            self.half_life_s
        )
        scale = 2.0 ** ((self._reference - new) / self.half_life_s)
        weights = {i: w * scale for i, w in self._weights.items()}
        self._weights = {i: w for i, w in weights.items() if w >= _EPSILON}
        self._reference = new


@dataclass(frozen=True)
class UsageSample:
    """Usage observed at `at` (seconds): CPU in cores averaged over the sample interval, memory
    in bytes at its peak over the interval."""

    at: float
    cpu_cores: float
    memory_bytes: int


@dataclass(frozen=True)
class RightsizingConfig:
    """VPA's recommender defaults: P90 target, P50 lower and P95 upper bound, 15% margin, one
    day half-life, eight days of history. Memory is rounded up to `memory_step_bytes`."""

    target_percentile: float = 0.9
    lower_percentile: float = 0.5
    upper_percentile: float = 0.95
    safety_margin: float = 0.15
    min_cpu_millis: int = 10
    min_memory_bytes: int = 16 * MiB
    memory_step_bytes: int = MiB
    half_life_s: float = _DAY
    history_s: float | None = 8 * _DAY
    cpu_buckets: Buckets = field(default=CPU_BUCKETS)
    memory_buckets: Buckets = field(default=MEMORY_BUCKETS)


@dataclass(frozen=True)
class ResourceEstimate:
    """CPU in millicores and memory in bytes."""

    cpu_millis: int
    memory_bytes: int

    def as_requests(self) -> dict[str, str]:
        """Kubernetes quantities for a container's `resources.requests` (`250m`, `512Mi`)."""
        return {"cpu": format_millis(self.cpu_millis), "memory": format_bytes(self.memory_bytes)}


@dataclass(frozen=True)
class Recommendation:
    """What to request (`target`), and the range outside which the current requests are worth
    changing (`lower_bound`, `upper_bound`); `samples` says how much evidence there was."""

    target: ResourceEstimate
    lower_bound: ResourceEstimate
    upper_bound: ResourceEstimate
    samples: int

    def as_requests(self) -> dict[str, str]:
        """The target as Kubernetes quantities (`{"cpu": "250m", "memory": "512Mi"}`)."""
        return self.target.as_requests()


def recommend(
    samples: Iterable[UsageSample], *, now: float, config: RightsizingConfig = RightsizingConfig()
) -> Recommendation | None:
    """Requests for a workload from its usage samples, or None when there is no sample inside
    `config.history_s` before `now`. Samples stamped after `now` count as taken at `now`.
    Raises `ValueError` naming the problem for a negative or non-finite sample or a bad config."""
    _check_config(config)
    cpu = DecayingHistogram(config.cpu_buckets, half_life_s=config.half_life_s, reference=now)
    memory = DecayingHistogram(config.memory_buckets, half_life_s=config.half_life_s, reference=now)
    oldest = -math.inf if config.history_s is None else now - config.history_s
    for sample in samples:
        if sample.at > oldest:
            at = min(sample.at, now)
            cpu.add(sample.cpu_cores, at=at)
            memory.add(float(sample.memory_bytes), at=at)
    return recommend_from(cpu, memory, config=config)


def recommend_from(
    cpu: DecayingHistogram,
    memory: DecayingHistogram,
    *,
    config: RightsizingConfig = RightsizingConfig(),
) -> Recommendation | None:
    """Requests from histograms kept by the caller (CPU in cores, memory in bytes), or None
    when either is empty. `samples` is the CPU histogram's count."""
    _check_config(config)
    if cpu.is_empty or memory.is_empty:
        return None
    return Recommendation(
        target=_estimate(cpu, memory, config.target_percentile, config),
        lower_bound=_estimate(cpu, memory, config.lower_percentile, config),
        upper_bound=_estimate(cpu, memory, config.upper_percentile, config),
        samples=cpu.count,
    )


def memory_after_oom(
    limit_bytes: int,
    peak_bytes: int | None,
    *,
    factor: float = 1.2,
    minimum_increase: int = 100 * MiB,
    cap: int | None = None,
) -> int:
    """Memory to give a container that was killed for running out of it, as VPA bumps it.

    What it used counts as the larger of its limit and the observed peak (a sampled peak
    usually misses the moment of the kill); it gets the larger of that times `factor` and that
    plus `minimum_increase`, but no more than `cap`: when `cap` is lower, `cap` is returned and
    the caller decides what to do. Raises `ValueError` for negative sizes or `factor` below 1.
    """
    sizes = {"limit_bytes": limit_bytes, "peak_bytes": peak_bytes or 0}
    errors = [f"{name}: must not be negative (got {n})" for name, n in sizes.items() if n < 0]
    if minimum_increase < 0:
        errors.append(f"minimum_increase: must not be negative (got {minimum_increase})")
    if not (math.isfinite(factor) and factor >= 1):
        errors.append(f"factor: must be a number of at least 1 (got {factor})")
    if errors:
        raise ValueError("; ".join(errors))
    used = max(limit_bytes, peak_bytes or 0)
    needed = max(math.ceil(used * factor), used + minimum_increase)
    return needed if cap is None else min(needed, cap)


def _estimate(
    cpu: DecayingHistogram, memory: DecayingHistogram, p: float, config: RightsizingConfig
) -> ResourceEstimate:
    margin = 1 + config.safety_margin
    millis = math.ceil(round(cpu.percentile(p) * margin * 1000, 6))
    step = config.memory_step_bytes
    memory_bytes = math.ceil(memory.percentile(p) * margin / step) * step
    return ResourceEstimate(
        cpu_millis=max(millis, config.min_cpu_millis),
        memory_bytes=max(memory_bytes, config.min_memory_bytes),
    )


def _check_config(config: RightsizingConfig) -> None:
    errors = []
    for name in ("target_percentile", "lower_percentile", "upper_percentile"):
        p = getattr(config, name)
        if not 0 <= p <= 1:
            errors.append(f"{name}: must be between 0 and 1 (got {p})")
    if not (math.isfinite(config.safety_margin) and config.safety_margin >= 0):
        errors.append(f"safety_margin: must not be negative (got {config.safety_margin})")
    for name in ("min_cpu_millis", "min_memory_bytes"):
        if getattr(config, name) < 0:
            errors.append(f"{name}: must not be negative (got {getattr(config, name)})")
    if config.memory_step_bytes < 1:
        errors.append(f"memory_step_bytes: must be at least 1 (got {config.memory_step_bytes})")
    if config.history_s is not None and not config.history_s > 0:
        errors.append(f"history_s: must be a positive number or None (got {config.history_s})")
    errors += [f"cpu_buckets.{e}" for e in config.cpu_buckets.errors()]
    errors += [f"memory_buckets.{e}" for e in config.memory_buckets.errors()]
    if errors:
        raise ValueError("; ".join(errors))
