"""VPA-like right-sizing: decaying histograms, recommendations, the OOM bump."""

import json
import math

import pytest

from mlkube.autoscaling.rightsizing import (
    CPU_BUCKETS,
    MEMORY_BUCKETS,
    Buckets,
    DecayingHistogram,
    MiB,
    Recommendation,
    ResourceEstimate,
    RightsizingConfig,
    UsageSample,
    memory_after_oom,
    recommend,
    recommend_from,
)

DAY = 24 * 3600.0
GiB = 1024 * MiB


def bucket_end(buckets: Buckets, value: float) -> float:
    """What a percentile landing on `value` reports: the end of its bucket."""
    return buckets.start(buckets.index(value) + 1)


def histogram(values: list[float], *, at: float = 0.0) -> DecayingHistogram:
    h = DecayingHistogram(CPU_BUCKETS)
    for v in values:
        h.add(v, at=at)
    return h


# --- buckets ---------------------------------------------------------------------------------


def test_buckets_grow_five_percent_from_the_first() -> None:
    assert CPU_BUCKETS.start(0) == 0.0
    assert CPU_BUCKETS.start(1) == pytest.approx(0.01)
    assert CPU_BUCKETS.start(2) == pytest.approx(0.01 + 0.0105)
    # The open-ended last bucket starts at the first bucket start at or past the max.
    assert (
        CPU_BUCKETS.start(CPU_BUCKETS.count - 2)
        < 1000.0
        <= CPU_BUCKETS.start(CPU_BUCKETS.count - 1)
    )
    assert MEMORY_BUCKETS.start(1) == 10 * MiB


@pytest.mark.parametrize("value", [0.0, 0.009, 0.01, 0.0205, 0.5, 3.7, 999.0])
def test_a_value_lands_in_the_bucket_that_holds_it(value: float) -> None:
    i = CPU_BUCKETS.index(value)
    assert CPU_BUCKETS.start(i) <= value < CPU_BUCKETS.start(i + 1)


def test_values_past_the_max_land_in_the_last_bucket() -> None:
    assert CPU_BUCKETS.index(1e9) == CPU_BUCKETS.count - 1


# --- percentiles -----------------------------------------------------------------------------


def test_percentiles_of_a_uniform_distribution_are_exact_to_a_bucket() -> None:
    h = histogram([i / 100 for i in range(1, 101)])  # 0.01 .. 1.00 cores
    for p in (0.5, 0.9, 0.95):
        assert p <= h.percentile(p) <= p * 1.05 + 0.01


def test_percentiles_of_a_constant_are_the_end_of_its_bucket() -> None:
    h = histogram([0.5] * 50)
    assert {h.percentile(p) for p in (0.0, 0.5, 0.9, 1.0)} == {bucket_end(CPU_BUCKETS, 0.5)}


def test_percentiles_of_a_two_level_load() -> None:
    h = histogram([1.0] * 80 + [4.0] * 20)
    assert h.percentile(0.5) == bucket_end(CPU_BUCKETS, 1.0)
    assert h.percentile(0.8) == bucket_end(CPU_BUCKETS, 1.0)
    assert h.percentile(0.81) == bucket_end(CPU_BUCKETS, 4.0)


def test_weights_count() -> None:
    h = DecayingHistogram(CPU_BUCKETS)
    h.add(1.0, 3.0, at=0.0)
    h.add(4.0, 1.0, at=0.0)
    assert h.percentile(0.75) == bucket_end(CPU_BUCKETS, 1.0)
    assert h.percentile(0.76) == bucket_end(CPU_BUCKETS, 4.0)


def test_empty_histogram() -> None:
    h = DecayingHistogram(CPU_BUCKETS)
    assert h.is_empty and h.percentile(0.9) == 0.0
    h.add(1.0, 0.0, at=0.0)
    assert h.is_empty and h.count == 1


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_percentile_outside_zero_to_one_is_an_error(p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        histogram([1.0]).percentile(p)


@pytest.mark.parametrize(
    ("value", "weight", "at", "field"),
    [
        (-1.0, 1.0, 0.0, "value"),
        (math.nan, 1.0, 0.0, "value"),
        (1.0, -1.0, 0.0, "weight"),
        (1.0, 1.0, math.inf, "at"),
    ],
)
def test_bad_samples_are_refused(value: float, weight: float, at: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DecayingHistogram(CPU_BUCKETS).add(value, weight, at=at)


# --- decay -----------------------------------------------------------------------------------


def test_a_two_day_old_spike_weighs_a_quarter_of_a_fresh_sample() -> None:
    h = DecayingHistogram(CPU_BUCKETS, half_life_s=DAY)
    h.add(2.0, at=0.0)  # the spike, two days before the fresh sample
    h.add(1.0, at=2 * DAY)
    weights = dict(h.to_dict()["weights"])
    spike, fresh = weights[CPU_BUCKETS.index(2.0)], weights[CPU_BUCKETS.index(1.0)]
    assert spike / fresh == pytest.approx(0.25)
    # So the spike holds 1/5 of the weight: P79 is still the fresh value, P81 the spike.
    assert h.percentile(0.79) == bucket_end(CPU_BUCKETS, 1.0)
    assert h.percentile(0.81) == bucket_end(CPU_BUCKETS, 2.0)


def test_without_decay_the_same_samples_weigh_the_same() -> None:
    h = histogram([2.0, 1.0], at=DAY)
    assert h.percentile(0.5) == bucket_end(CPU_BUCKETS, 1.0)
    assert h.percentile(0.51) == bucket_end(CPU_BUCKETS, 2.0)


def test_reference_moves_forward_in_whole_half_lives_before_weights_overflow() -> None:
    h = DecayingHistogram(CPU_BUCKETS, half_life_s=DAY, reference=0.0)
    h.add(1.0, at=0.0)
    h.add(2.0, at=99 * DAY)
    assert h.reference == 0.0
    h.add(2.0, at=150.5 * DAY)
    assert h.reference == 150 * DAY
    assert math.isfinite(h.total_weight)
    # The sample from day 0 has decayed to nothing; the two recent ones keep their ratio.
    weights = dict(h.to_dict()["weights"])
    assert CPU_BUCKETS.index(1.0) not in weights
    assert weights[CPU_BUCKETS.index(2.0)] == pytest.approx(2**0.5 + 2**-51)


# --- storage ---------------------------------------------------------------------------------


def test_histogram_round_trips_through_json() -> None:
    h = DecayingHistogram(MEMORY_BUCKETS, half_life_s=3600.0, reference=10.0)
    for i in range(100):
        h.add(float((100 + i % 37) * MiB), at=10.0 + 60 * i)
    copy = DecayingHistogram.from_dict(json.loads(json.dumps(h.to_dict())))
    assert copy.to_dict() == h.to_dict()
    assert copy.count == 100 and copy.reference == 10.0
    for p in (0.0, 0.5, 0.9, 1.0):
        assert copy.percentile(p) == h.percentile(p)
    h.add(float(GiB), at=7000.0)
    copy.add(float(GiB), at=7000.0)
    assert copy.to_dict() == h.to_dict()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"buckets": None}, "not a stored histogram"),
        ({"halfLifeSeconds": 0}, "half_life_s"),
        ({"weights": [[10_000, 1.0]]}, "bucket 10000"),
        ({"weights": [[3, -1.0]]}, "bucket 3"),
        ({"count": -1}, "count"),
    ],
)
def test_histogram_from_bad_data_is_an_error(change: dict[str, object], match: str) -> None:
    data = histogram([1.0]).to_dict() | change
    with pytest.raises(ValueError, match=match):
        DecayingHistogram.from_dict(data)


# --- recommendations -------------------------------------------------------------------------


def samples(cpu: float, memory: int, *, n: int = 100, start: float = 0.0) -> list[UsageSample]:
    return [UsageSample(start + 60.0 * i, cpu, memory) for i in range(n)]


def test_no_samples_no_recommendation() -> None:
    assert recommend([], now=0.0) is None


def test_samples_older_than_the_history_are_ignored() -> None:
    assert recommend(samples(1.0, GiB), now=9 * DAY) is None
    assert recommend(samples(1.0, GiB), now=9 * DAY, config=RightsizingConfig(history_s=None))


def test_steady_usage_gives_percentile_plus_margin() -> None:
    rec = recommend(samples(0.5, 200 * MiB), now=DAY)
    assert rec is not None
    cpu = math.ceil(bucket_end(CPU_BUCKETS, 0.5) * 1.15 * 1000)
    memory = math.ceil(bucket_end(MEMORY_BUCKETS, 200 * MiB) * 1.15 / MiB) * MiB
    assert rec.target == rec.lower_bound == rec.upper_bound == ResourceEstimate(cpu, memory)
    assert rec.samples == 100
    assert rec.as_requests() == {"cpu": f"{cpu}m", "memory": f"{memory // MiB}Mi"}


def test_bounds_come_from_p50_and_p95() -> None:
    usage = [UsageSample(100.0, i / 100, (100 + i) * MiB) for i in range(1, 101)]
    rec = recommend(usage, now=100.0)
    assert rec is not None
    assert rec.lower_bound.cpu_millis < rec.target.cpu_millis < rec.upper_bound.cpu_millis
    assert rec.lower_bound.memory_bytes < rec.target.memory_bytes <= rec.upper_bound.memory_bytes
    assert 0.5 * 1.15 * 1000 <= rec.lower_bound.cpu_millis <= 0.5 * 1.05 * 1.15 * 1000 + 12
    assert 0.9 * 1.15 * 1000 <= rec.target.cpu_millis <= 0.9 * 1.05 * 1.15 * 1000 + 12


def test_idle_workloads_get_the_minimums() -> None:
    rec = recommend(samples(0.0, 0), now=DAY)
    assert rec is not None
    assert rec.target == ResourceEstimate(cpu_millis=12, memory_bytes=16 * MiB)
    floor = RightsizingConfig(min_cpu_millis=100, min_memory_bytes=64 * MiB)
    rec = recommend(samples(0.0, 0), now=DAY, config=floor)
    assert rec is not None and rec.lower_bound == ResourceEstimate(100, 64 * MiB)
    assert rec.target.as_requests() == {"cpu": "100m", "memory": "64Mi"}


def test_recent_usage_outweighs_last_weeks() -> None:
    old = samples(4.0, 4 * GiB, start=0.0)
    new = samples(1.0, GiB, start=7 * DAY)
    rec = recommend(old + new, now=7 * DAY + 6000.0)
    assert rec is not None
    assert rec.upper_bound.cpu_millis == math.ceil(bucket_end(CPU_BUCKETS, 1.0) * 1150)
    fresh_only = recommend(new, now=7 * DAY + 6000.0)
    assert fresh_only is not None and rec.target == fresh_only.target
    assert rec.samples == 200


def test_samples_from_the_future_count_as_now() -> None:
    rec = recommend([UsageSample(500.0, 1.0, GiB)], now=100.0)
    assert rec is not None and rec.samples == 1


def test_recommend_from_kept_histograms() -> None:
    cpu = DecayingHistogram(CPU_BUCKETS)
    memory = DecayingHistogram(MEMORY_BUCKETS)
    assert recommend_from(cpu, memory) is None
    for s in samples(0.5, 200 * MiB):
        cpu.add(s.cpu_cores, at=s.at)
        memory.add(float(s.memory_bytes), at=s.at)
    assert recommend_from(cpu, memory) == recommend(samples(0.5, 200 * MiB), now=6000.0)


def test_recommendation_formats_as_kubernetes_quantities() -> None:
    estimate = ResourceEstimate(cpu_millis=2000, memory_bytes=GiB)
    rec = Recommendation(estimate, estimate, estimate, samples=1)
    assert rec.as_requests() == {"cpu": "2", "memory": "1Gi"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (RightsizingConfig(target_percentile=1.5), "target_percentile"),
        (RightsizingConfig(safety_margin=-0.1), "safety_margin"),
        (RightsizingConfig(min_cpu_millis=-1), "min_cpu_millis"),
        (RightsizingConfig(memory_step_bytes=0), "memory_step_bytes"),
        (RightsizingConfig(history_s=0), "history_s"),
        (RightsizingConfig(half_life_s=0), "half_life_s"),
        (RightsizingConfig(cpu_buckets=Buckets(0.01, 10.0, ratio=1.0)), "cpu_buckets.ratio"),
        (RightsizingConfig(memory_buckets=Buckets(0.0, 10.0)), "memory_buckets.first"),
    ],
)
def test_bad_config_names_the_field(config: RightsizingConfig, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        recommend(samples(1.0, GiB), now=DAY, config=config)


# --- OOM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "peak", "kwargs", "expected"),
    [
        pytest.param(GiB, 900 * MiB, {}, math.ceil(1.2 * GiB), id="20%-over-the-limit"),
        pytest.param(256 * MiB, 250 * MiB, {}, 356 * MiB, id="at-least-100Mi-more"),
        pytest.param(GiB, None, {}, math.ceil(1.2 * GiB), id="no-peak-observed"),
        pytest.param(GiB, 2 * GiB, {}, math.ceil(2.4 * GiB), id="peak-above-limit"),
        pytest.param(0, 500 * MiB, {}, 600 * MiB, id="no-limit"),
        pytest.param(GiB, None, {"cap": GiB + MiB}, GiB + MiB, id="capped"),
        pytest.param(GiB, None, {"cap": 4 * GiB}, math.ceil(1.2 * GiB), id="under-the-cap"),
        pytest.param(GiB, None, {"factor": 2.0}, 2 * GiB, id="factor"),
        pytest.param(GiB, None, {"minimum_increase": GiB}, 2 * GiB, id="minimum-increase"),
    ],
)
def test_memory_after_oom(
    limit: int, peak: int | None, kwargs: dict[str, int], expected: int
) -> None:
    assert memory_after_oom(limit, peak, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((-1, None), {}, "limit_bytes"),
        ((GiB, -1), {}, "peak_bytes"),
        ((GiB, None), {"factor": 0.5}, "factor"),
        ((GiB, None), {"minimum_increase": -1}, "minimum_increase"),
    ],
)
def test_memory_after_oom_refuses_bad_input(
    args: tuple[int, int | None], kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        memory_after_oom(*args, **kwargs)  # type: ignore[arg-type]
