"""`decide` driven tick by tick (1 s) against offered load, through a tiny simulated service.

The simulated service does what the decision says at once: new replicas get ready after
`startup_s`, removed ones go newest first. Offered concurrency is in flight at the ready
replicas, or held by the activator while none is ready.
"""

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mlkube.autoscaling.replicas import (
    HPA_DEFAULT_SCALE_UP,
    Observation,
    ScaleDecision,
    ScalePolicy,
    ScaleState,
    decide,
)

Restore = Callable[[ScaleState], ScaleState]


@dataclass
class Service:
    policy: ScalePolicy
    startup_s: float = 0.0
    ready_at: list[float] = field(default_factory=lambda: [-math.inf])
    state: ScaleState = field(default_factory=ScaleState)

    def tick(self, at: float, load: float) -> ScaleDecision:
        ready = sum(1 for t in self.ready_at if t <= at)
        value, held = (load, 0) if ready else (0.0, math.ceil(load))
        observation = Observation(at, len(self.ready_at), ready, value, held)
        decision = decide(self.policy, self.state, observation)
        while len(self.ready_at) < decision.replicas:
            self.ready_at.append(at + self.startup_s)
        del self.ready_at[decision.replicas :]
        self.state = decision.state
        return decision


def run(
    policy: ScalePolicy,
    loads: Sequence[float],
    *,
    startup_s: float = 0.0,
    replicas: int = 1,
    restore: Restore | None = None,
) -> list[ScaleDecision]:
    """One decision per second of `loads`; `restore` is applied to the state between ticks."""
    service = Service(policy, startup_s, [-math.inf] * replicas)
    decisions = []
    for t, load in enumerate(loads):
        decisions.append(service.tick(float(t), load))
        if restore is not None:
            service.state = restore(service.state)
    return decisions


def counts(decisions: list[ScaleDecision]) -> list[int]:
    return [d.replicas for d in decisions]


POLICY = ScalePolicy(max_replicas=10, target=2.0, scale_down_stabilization_s=60)
# Traffic, then silence: down after a 30 s window, to zero 60 s after the last request.
TO_ZERO = ScalePolicy(
    min_replicas=0,
    max_replicas=10,
    target=2.0,
    scale_down_stabilization_s=30,
    scale_to_zero_after_s=60,
)


def test_step_to_heavy_load_scales_up_within_one_tick_and_does_not_flap() -> None:
    loads = [2.0] * 10 + [12.0] * 100
    assert counts(run(POLICY, loads, startup_s=5)) == [1] * 10 + [6] * 100


def test_step_with_rate_limit_reaches_the_target_in_steps_and_stays() -> None:
    policy = ScalePolicy(max_replicas=50, target=1.0, scale_up_limit=HPA_DEFAULT_SCALE_UP)
    replicas = counts(run(policy, [1.0] * 5 + [40.0] * 60, startup_s=10))
    assert replicas[:5] == [1] * 5
    assert replicas[5] == 5  # 1 + 4 pods beats +100%
    assert replicas[20] == 10 and replicas[35] == 20 and replicas[50] == 40
    assert replicas[50:] == [40] * 15
    assert replicas == sorted(replicas)


def test_short_spike_holds_for_the_scale_down_window_then_goes_down() -> None:
    loads = [2.0] * 10 + [10.0] * 5 + [2.0] * 100
    replicas = counts(run(POLICY, loads))
    last_spike = 14
    down_at = last_spike + 60
    assert replicas[:10] == [1] * 10
    assert replicas[10:down_at] == [5] * (down_at - 10)
    assert replicas[down_at:] == [1] * (len(loads) - down_at)


def test_slow_ramp_grows_monotonically_tracking_load_up_to_max() -> None:
    policy = ScalePolicy(max_replicas=8, target=1.0, tolerance=0.1)
    loads = [t / 20 for t in range(400)]
    replicas = counts(run(policy, loads, startup_s=3))
    assert replicas == sorted(replicas)
    assert max(replicas) == 8 and replicas[-1] == 8
    for load, n in zip(loads, replicas, strict=True):
        assert n <= max(1, math.ceil(load))
        assert n >= min(8, load / 1.1)


def test_silence_goes_down_to_one_then_to_zero_after_the_idle_window() -> None:
    loads = [4.0] * 10 + [0.0] * 140 + [7.0] * 10
    decisions = run(TO_ZERO, loads, replicas=2)
    replicas = counts(decisions)
    last_active = 9
    assert replicas[:39] == [2] * 39  # the 2 recommended at t=9 leaves the window at t=39
    assert replicas[39 : last_active + 60] == [1] * (last_active + 60 - 39)
    assert replicas[last_active + 60 : 150] == [0] * (150 - last_active - 60)
    assert decisions[last_active + 60].reason == "idle 60s: scale to zero"
    # Traffic comes back: the activator holds 7 requests, so 4 replicas at once, and stays.
    assert replicas[150:] == [4] * 10


def test_silence_never_goes_to_zero_when_min_is_one() -> None:
    policy = replace(TO_ZERO, min_replicas=1)
    replicas = counts(run(policy, [4.0] * 10 + [0.0] * 500, replicas=2))
    assert replicas[:39] == [2] * 39
    assert replicas[39:] == [1] * (len(replicas) - 39)


def test_load_within_tolerance_changes_nothing() -> None:
    loads = [4 * 2.0 * 1.05] * 200 + [4 * 2.0 * 0.95] * 200
    assert counts(run(POLICY, loads, replicas=4)) == [4] * 400


def test_restart_with_stored_state_gives_identical_decisions() -> None:
    policy = ScalePolicy(
        min_replicas=0,
        max_replicas=20,
        target=2.0,
        scale_up_stabilization_s=5,
        scale_down_stabilization_s=40,
        scale_to_zero_after_s=30,
        scale_up_limit=HPA_DEFAULT_SCALE_UP,
    )
    loads = [1.0] * 20 + [30.0] * 15 + [3.0] * 60 + [0.0] * 100 + [9.0] * 20 + [0.5] * 30
    uninterrupted = run(policy, loads, startup_s=4)

    def restart(state: ScaleState) -> ScaleState:
        return ScaleState.from_dict(json.loads(json.dumps(state.to_dict())))

    assert run(policy, loads, startup_s=4, restore=restart) == uninterrupted
    # The curve exercised windows, the rate limit, zero and back.
    assert set(counts(uninterrupted)) == {0, 1, 2, 5}
