"""`decide` one observation at a time: the HPA formula, windows, limits, zero, validation."""

import json
import random

import pytest

from mlkube.autoscaling import replicas
from mlkube.autoscaling.replicas import (
    HPA_DEFAULT_SCALE_UP,
    Observation,
    ScalePolicy,
    ScaleState,
    ScaleUpLimit,
    decide,
    validate_policy,
)

SERVICE = ScalePolicy(min_replicas=1, max_replicas=10, target=2.0)
TO_ZERO = ScalePolicy(min_replicas=0, max_replicas=4, scale_to_zero_after_s=60)


def obs(
    current: int, value: float, *, ready: int | None = None, held: int = 0, at: float = 100.0
) -> Observation:
    ready = current if ready is None else ready
    return Observation(at=at, current=current, ready=ready, value=value, held=held)


@pytest.mark.parametrize(
    ("policy", "observation", "expected", "reason"),
    [
        pytest.param(
            SERVICE,
            obs(3, 12.0),
            6,
            "concurrency 12.0 over 3 ready replicas, target 2: 6",
            id="hpa-formula",
        ),
        pytest.param(
            SERVICE,
            obs(4, 8.4),
            4,
            "concurrency 8.4 over 4 ready replicas, target 2: within tolerance",
            id="5%-over-target-is-within-tolerance",
        ),
        pytest.param(SERVICE, obs(4, 7.6), 4, None, id="5%-under-target-is-within-tolerance"),
        pytest.param(SERVICE, obs(4, 9.2), 5, None, id="15%-over-scales-up"),
        pytest.param(
            ScalePolicy(max_replicas=10, target=2.0, scale_down_stabilization_s=0),
            obs(4, 6.0),
            3,
            None,
            id="25%-under-scales-down-without-window",
        ),
        pytest.param(
            SERVICE,
            obs(3, 100.0),
            10,
            "concurrency 100.0 over 3 ready replicas, target 2: 50; max_replicas 10",
            id="clamped-to-max",
        ),
        pytest.param(
            ScalePolicy(min_replicas=3, max_replicas=10, target=2.0),
            obs(1, 1.0),
            3,
            None,
            id="raised-to-min",
        ),
        pytest.param(
            ScalePolicy(max_replicas=10, target=2.0),
            obs(12, 24.0),
            10,
            None,
            id="above-a-lowered-max",
        ),
        pytest.param(
            ScalePolicy(max_replicas=10, metric="rps", target=10.0),
            obs(2, 50.0),
            5,
            "rps 50.0 over 2 ready replicas, target 10: 5",
            id="rps-metric",
        ),
        pytest.param(
            SERVICE,
            obs(0, 0.0, held=5),
            3,
            "from zero: concurrency 0.0 (+5 held), target 2: 3",
            id="from-zero-held-requests-count-as-concurrency",
        ),
        pytest.param(
            ScalePolicy(min_replicas=0, max_replicas=10, metric="rps", target=10.0),
            obs(0, 0.0, held=3),
            1,
            None,
            id="from-zero-rps-held-requests-only-wake-it",
        ),
        pytest.param(SERVICE, obs(0, 30.0), 10, None, id="from-zero-clamped-to-max"),
        pytest.param(
            ScalePolicy(min_replicas=0, max_replicas=10),
            obs(0, 0.0),
            0,
            "idle at zero",
            id="zero-stays-zero",
        ),
        pytest.param(
            ScalePolicy(min_replicas=2, max_replicas=10),
            obs(0, 0.0),
            2,
            "below min_replicas 2",
            id="zero-raised-to-min",
        ),
        pytest.param(
            SERVICE,
            obs(3, 0.0, ready=0, held=4),
            3,
            "no replica ready yet: holding 3",
            id="starting-replicas-cover-held",
        ),
        pytest.param(
            SERVICE,
            obs(3, 0.0, ready=0, held=10),
            5,
            "no replica ready, concurrency 0.0 (+10 held), target 2: 5",
            id="starting-replicas-too-few",
        ),
        pytest.param(
            SERVICE,
            obs(6, 12.0, ready=1),
            6,
            "concurrency 12.0 over 1 ready replicas, target 2: 5 starting replicas cover it",
            id="starting-replicas-not-counted-twice",
        ),
        pytest.param(SERVICE, obs(4, 24.0, ready=2), 10, None, id="starting-but-still-short"),
        pytest.param(SERVICE, obs(2, 4.0, ready=3), 2, None, id="ready-above-current"),
    ],
)
def test_decide_from_an_empty_state(
    policy: ScalePolicy, observation: Observation, expected: int, reason: str | None
) -> None:
    decision = decide(policy, ScaleState(), observation)
    assert decision.replicas == expected
    if reason is not None:
        assert decision.reason == reason


def test_scale_down_window_holds_the_highest_recent_recommendation() -> None:
    state = ScaleState(recommendations=((50.0, 6),), last_active_at=99.0)
    held = decide(SERVICE, state, obs(6, 2.0))
    assert held.replicas == 6
    assert held.reason.endswith("; scale-down window holds 6")
    later = decide(SERVICE, held.state, obs(6, 2.0, at=50.0 + 300.0))
    assert later.replicas == 1


def test_scale_down_goes_to_the_highest_recommendation_not_the_newest() -> None:
    state = ScaleState(recommendations=((10.0, 8), (50.0, 4)), last_active_at=99.0)
    decision = decide(SERVICE, state, obs(8, 2.0, at=320.0))  # (10, 8) has left the window
    assert decision.replicas == 4


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    policy = ScalePolicy(max_replicas=10, target=2.0, scale_up_stabilization_s=60)
    state = ScaleState(recommendations=((50.0, 3), (90.0, 5)), last_active_at=99.0)
    decision = decide(policy, state, obs(2, 16.0))
    assert decision.replicas == 3
    assert decision.reason.endswith("; scale-up window holds 3")


def test_history_is_pruned_to_the_longest_window_and_compacted() -> None:
    state = ScaleState()
    for t in range(1000):
        state = decide(SERVICE, state, obs(2, 4.0, at=float(t))).state
    assert state.recommendations == ((999.0, 2),)
    state = decide(SERVICE, state, obs(2, 0.5, at=1000.0)).state
    assert state.recommendations == ((999.0, 2), (1000.0, 1))
    state = decide(SERVICE, state, obs(2, 0.5, at=1400.0)).state
    assert state.recommendations == ((1400.0, 1),)


def test_compacted_history_answers_every_window_like_the_full_one() -> None:
    rng = random.Random(7)
    for _ in range(200):
        history = tuple((float(t), rng.randint(1, 6)) for t in range(rng.randint(1, 30)))
        compact = replicas._compact(history)
        for cutoff in range(-1, len(history)):

            def window(h: tuple[tuple[float, int], ...], c: int = cutoff) -> list[int]:
                return [n for at, n in h if at > c]

            assert max(window(compact), default=0) == max(window(history), default=0)
            assert min(window(compact), default=0) == min(window(history), default=0)


def test_scale_up_rate_limit_allows_double_or_four_more_per_period() -> None:
    policy = ScalePolicy(max_replicas=100, target=1.0, scale_up_limit=HPA_DEFAULT_SCALE_UP)
    first = decide(policy, ScaleState(), obs(2, 40.0, at=0.0))
    assert first.replicas == 6
    assert "rate limit (+100% or +4 per 15s) holds 6" in first.reason
    # The caller has not acted yet: asking again must not raise the limit.
    again = decide(policy, first.state, obs(2, 40.0, at=1.0))
    assert again.replicas == 6
    starting = decide(policy, again.state, obs(6, 40.0, ready=2, at=5.0))
    assert starting.replicas == 6
    after_period = decide(policy, starting.state, obs(6, 40.0, at=16.0))
    assert after_period.replicas == 12


def test_rate_limit_does_not_slow_scale_from_zero() -> None:
    limit = ScaleUpLimit(percent=0, pods=1)
    policy = ScalePolicy(min_replicas=0, max_replicas=100, target=1.0, scale_up_limit=limit)
    decision = decide(policy, ScaleState(), obs(0, 0.0, held=30))
    assert decision.replicas == 30
    assert decision.state.scale_ups == ()


def test_idle_replica_goes_to_zero_only_after_the_idle_window() -> None:
    state = ScaleState(last_active_at=40.0)
    assert decide(TO_ZERO, state, obs(1, 0.0, at=99.0)).replicas == 1
    decision = decide(TO_ZERO, state, obs(1, 0.0, at=100.0))
    assert (decision.replicas, decision.reason) == (0, "idle 60s: scale to zero")


def test_first_observation_starts_the_idle_clock() -> None:
    first = decide(TO_ZERO, ScaleState(), obs(1, 0.0, at=10.0))
    assert (first.replicas, first.state.last_active_at) == (1, 10.0)
    assert decide(TO_ZERO, first.state, obs(1, 0.0, at=70.0)).replicas == 0


def test_replicas_that_never_got_ready_go_to_zero_when_idle() -> None:
    decision = decide(TO_ZERO, ScaleState(last_active_at=0.0), obs(3, 0.0, ready=0, at=60.0))
    assert decision.replicas == 0


def test_history_from_a_reset_clock_is_dropped() -> None:
    state = ScaleState(recommendations=((5000.0, 9),), last_active_at=5000.0)
    decision = decide(SERVICE, state, obs(9, 2.0, at=10.0))
    assert decision.replicas == 1
    assert decision.state.last_active_at == 10.0


def test_decide_is_pure() -> None:
    state = ScaleState(recommendations=((50.0, 6),), last_active_at=99.0)
    assert decide(SERVICE, state, obs(6, 2.0)) == decide(SERVICE, state, obs(6, 2.0))


def test_state_round_trips_through_json() -> None:
    state = ScaleState(
        recommendations=((1.5, 3), (2.0, 1)), scale_ups=((1.5, 2),), last_active_at=2.0
    )
    assert ScaleState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert ScaleState.from_dict({}) == ScaleState()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"recommendations": [[1.0]]}, "recommendations"),
        ({"scaleUps": [["x", 1]]}, "scaleUps"),
        ({"lastActiveAt": "soon"}, "lastActiveAt"),
        ({"recommendations": 3}, "recommendations"),
        ({"scaleUps": [[1.0, True]]}, "scaleUps"),
    ],
)
def test_state_from_bad_data_names_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ScaleState.from_dict(data)


def test_default_policy_is_valid() -> None:
    assert validate_policy(ScalePolicy()) == []
    assert validate_policy(ScalePolicy(min_replicas=0, scale_up_limit=HPA_DEFAULT_SCALE_UP)) == []


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (ScalePolicy(min_replicas=-1), "min_replicas"),
        (ScalePolicy(min_replicas=0, max_replicas=0), "max_replicas"),
        (ScalePolicy(min_replicas=3, max_replicas=2), "min_replicas: 3 must not exceed"),
        (ScalePolicy(metric="gpu"), "metric"),  # type: ignore[arg-type]
        (ScalePolicy(target=0), "target"),
        (ScalePolicy(target=float("nan")), "target"),
        (ScalePolicy(tolerance=1.0), "tolerance"),
        (ScalePolicy(tolerance=-0.1), "tolerance"),
        (ScalePolicy(scale_up_stabilization_s=-1), "scale_up_stabilization_s"),
        (ScalePolicy(scale_down_stabilization_s=float("inf")), "scale_down_stabilization_s"),
        (ScalePolicy(scale_to_zero_after_s=-5), "scale_to_zero_after_s"),
        (ScalePolicy(scale_up_limit=ScaleUpLimit(percent=-1)), "scale_up_limit.percent"),
        (ScalePolicy(scale_up_limit=ScaleUpLimit(pods=-1)), "scale_up_limit.pods"),
        (ScalePolicy(scale_up_limit=ScaleUpLimit(percent=0, pods=0)), "never scale up"),
        (ScalePolicy(scale_up_limit=ScaleUpLimit(period_s=0)), "scale_up_limit.period_s"),
    ],
)
def test_validate_policy_names_the_field(policy: ScalePolicy, field: str) -> None:
    errors = validate_policy(policy)
    assert len(errors) == 1
    assert field in errors[0]


@pytest.mark.parametrize(
    ("policy", "observation", "field"),
    [
        (ScalePolicy(target=0), obs(1, 1.0), "policy.target"),
        (SERVICE, obs(1, -1.0), "observation.value"),
        (SERVICE, obs(1, float("nan")), "observation.value"),
        (SERVICE, obs(-1, 1.0), "observation.current"),
        (SERVICE, obs(1, 1.0, held=-2), "observation.held"),
        (SERVICE, obs(1, 1.0, at=float("inf")), "observation.at"),
    ],
)
def test_decide_rejects_bad_input_naming_the_field(
    policy: ScalePolicy, observation: Observation, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        decide(policy, ScaleState(), observation)
