"""Serving replica count: the Kubernetes HPA rule with Knative-style scale to zero.

`decide(policy, state, observation)` is a pure function: the time is `observation.at`, and
everything it remembers between calls is in the returned `ScaleState`, plain data that the
caller stores and hands back next time. A restart that feeds the stored state back in makes
exactly the decisions an uninterrupted loop would have made.

The rule, in order:

1. Demand is the observed metric over the whole service. For `concurrency` it is the in-flight
   requests at the replicas plus the requests the activator holds (they will be in flight as soon
   as a replica takes them, as Knative's activator reports them); for `rps` held requests only
   say that there is traffic.
2. From zero replicas, any traffic scales up at once to `ceil(demand / target)` (at least one),
   ignoring windows and rate limits: the activator is holding requests.
3. While no replica is ready yet, hold: starting replicas must not be counted again and again.
   Only demand beyond what is already starting scales up.
4. Otherwise HPA's formula: the ratio is the per-ready-replica average over the target; within
   `tolerance` of 1 nothing changes, else `ceil(ratio * ready)`. When scaling up while some
   replicas are still starting, the ratio is taken over all replicas instead, as HPA does for
   unready pods, so a scale-up in progress is not repeated.
5. HPA's stabilization: scale up to the lowest recommendation of the scale-up window, down to the
   highest of the scale-down window. Then the optional scale-up rate limit, then `max_replicas`.
6. Never below one replica while `min_replicas` is 0, until there has been no traffic at all for
   `scale_to_zero_after_s`; then the last replica goes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

__all__ = [
    "HPA_DEFAULT_SCALE_UP",
    "Metric",
    "Observation",
    "ScaleDecision",
    "ScalePolicy",
    "ScaleState",
    "ScaleUpLimit",
    "decide",
    "validate_policy",
]

Metric = Literal["concurrency", "rps"]
_METRICS = ("concurrency", "rps")


@dataclass(frozen=True)
class ScaleUpLimit:
    """HPA's scale-up rate rule: within any `period_s`, grow to at most the larger of `percent`
    percent more and `pods` more replicas than there were at the start of the period."""

    percent: float = 100.0
    pods: int = 4
    period_s: float = 15.0


#: HPA's default scale-up behaviour: double or add four replicas, whichever is more, per 15 s.
HPA_DEFAULT_SCALE_UP = ScaleUpLimit()


@dataclass(frozen=True)
class ScalePolicy:
    """How a service scales. `min_replicas == 0` enables scale to zero.

    `target` is the per-replica target of `metric`: in-flight requests for `concurrency`,
    requests per second for `rps`. The stabilization windows follow HPA (defaults 0 s up,
    300 s down); `scale_up_limit` is off unless given (`HPA_DEFAULT_SCALE_UP` is HPA's).
    """

    min_replicas: int = 1
    max_replicas: int = 1
    metric: Metric = "concurrency"
    target: float = 1.0
    tolerance: float = 0.1
    scale_up_stabilization_s: float = 0.0
    scale_down_stabilization_s: float = 300.0
    scale_to_zero_after_s: float = 60.0
    scale_up_limit: ScaleUpLimit | None = None


@dataclass(frozen=True)
class Observation:
    """What the service looks like at time `at` (seconds on a clock that does not go back).

    `current` counts replicas that exist (starting or ready), `ready` those serving; a `ready`
    above `current` (a terminating replica still answering) counts as `current`. `value` is the
    metric summed over the service: in-flight requests averaged over the metric window, or total
    requests per second. `held` counts requests the activator holds because no replica took them.
    """

    at: float
    current: int
    ready: int
    value: float
    held: int = 0


@dataclass(frozen=True)
class ScaleState:
    """Everything `decide` remembers; store it and pass it back on the next call.

    `recommendations` holds `(at, replicas)` inside the longest stabilization window, compacted
    to the entries that can still decide a window's minimum or maximum. `scale_ups` holds
    `(at, replicas before)` of each scale-up inside the rate-limit period. `last_active_at` is
    the last time there was any traffic, or the first observation if there never was.
    """

    recommendations: tuple[tuple[float, int], ...] = ()
    scale_ups: tuple[tuple[float, int], ...] = ()
    last_active_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `ScaleState.from_dict(state.to_dict()) == state`."""
        return {
            "recommendations": [[at, n] for at, n in self.recommendations],
            "scaleUps": [[at, n] for at, n in self.scale_ups],
            "lastActiveAt": self.last_active_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaleState:
        """The state `to_dict` wrote; missing keys mean an empty state. Raises `ValueError`
        naming the key when a value has the wrong shape."""
        last = data.get("lastActiveAt")
        if last is not None and not isinstance(last, int | float):
            raise ValueError(f"lastActiveAt: must be a number or null (got {last!r})")
        return cls(
            recommendations=_pairs(data, "recommendations"),
            scale_ups=_pairs(data, "scaleUps"),
            last_active_at=None if last is None else float(last),
        )


@dataclass(frozen=True)
class ScaleDecision:
    """The replica count to run, the state to store, and why, in words for `describe`."""

    replicas: int
    state: ScaleState
    reason: str


def validate_policy(policy: ScalePolicy) -> list[str]:
    """Every problem with `policy`, one message per problem naming the field; empty if valid."""
    errors: list[str] = []
    if policy.min_replicas < 0:
        errors.append(f"min_replicas: must not be negative (got {policy.min_replicas})")
    if policy.max_replicas < 1:
        errors.append(f"max_replicas: must be at least 1 (got {policy.max_replicas})")
    if policy.min_replicas > policy.max_replicas:
        errors.append(
            f"min_replicas: {policy.min_replicas} must not exceed "
            f"max_replicas {policy.max_replicas}"
        )
    if policy.metric not in _METRICS:
        errors.append(f"metric: must be one of {', '.join(_METRICS)} (got {policy.metric!r})")
    if not (math.isfinite(policy.target) and policy.target > 0):
        errors.append(f"target: must be a positive number (got {policy.target})")
    if not 0 <= policy.tolerance < 1:
        errors.append(f"tolerance: must be at least 0 and below 1 (got {policy.tolerance})")
    for name in ("scale_up_stabilization_s", "scale_down_stabilization_s", "scale_to_zero_after_s"):
        seconds = getattr(policy, name)
        if not (math.isfinite(seconds) and seconds >= 0):
            errors.append(f"{name}: must be a non-negative number of seconds (got {seconds})")
    if policy.scale_up_limit is not None:
        errors += _limit_errors(policy.scale_up_limit)
    return errors


def decide(policy: ScalePolicy, state: ScaleState, obs: Observation) -> ScaleDecision:
    """The replica count for `obs`, the state to pass to the next call, and the reason.

    Pure: no clock, no I/O; equal arguments give equal results. Raises `ValueError` naming the
    fields when the policy is invalid or the observation has negative or non-finite numbers.
    History stamped later than `obs.at` (a clock that was reset) is dropped.
    """
    _check(policy, obs)
    state = _settle(state, obs.at)
    if obs.value > 0 or obs.held > 0 or state.last_active_at is None:
        state = replace(state, last_active_at=obs.at)
    if obs.current == 0:
        outcome = _from_zero(policy, obs)
    elif min(obs.ready, obs.current) == 0:
        outcome = _while_starting(policy, state, obs)
    else:
        outcome = _by_metric(policy, state, obs)
    return ScaleDecision(outcome.replicas, _next_state(policy, state, obs, outcome), outcome.reason)


class _Outcome(NamedTuple):
    replicas: int
    # What the metric asked for before windows and limits: stabilization remembers this.
    recommendation: int
    reason: str


# --- the three cases -------------------------------------------------------------------------


def _from_zero(policy: ScalePolicy, obs: Observation) -> _Outcome:
    demand = _demand(policy, obs)
    if demand > 0 or obs.held > 0:
        # The activator is holding requests: windows and rate limits would only add latency.
        wanted = max(1, math.ceil(demand / policy.target))
        n = _bound(policy, wanted)
        reason = f"from zero: {_describe(policy, obs)}, target {policy.target:g}: {wanted}"
        return _Outcome(n, n, reason)
    if policy.min_replicas > 0:
        n = policy.min_replicas
        return _Outcome(n, n, f"below min_replicas {n}")
    return _Outcome(0, 0, "idle at zero")


def _while_starting(policy: ScalePolicy, state: ScaleState, obs: Observation) -> _Outcome:
    wanted = math.ceil(_demand(policy, obs) / policy.target)
    if wanted > obs.current:
        recommendation = _bound(policy, wanted)
        n, note = _limit_up(policy, state, obs, recommendation)
        t = policy.target
        reason = f"no replica ready, {_describe(policy, obs)}, target {t:g}: {wanted}{note}"
        return _Outcome(n, recommendation, reason)
    if _idle_long_enough(policy, state, obs.at):
        return _Outcome(0, 0, f"idle {_idle_for(state, obs.at):g}s: scale to zero")
    n = _bound(policy, obs.current)
    return _Outcome(n, n, f"no replica ready yet: holding {n}")


def _by_metric(policy: ScalePolicy, state: ScaleState, obs: Observation) -> _Outcome:
    wanted, reason = _hpa(policy, obs)
    recommendation = _bound(policy, wanted)
    if recommendation > wanted:
        reason += f"; at least {recommendation}"
    elif recommendation < wanted:
        reason += f"; max_replicas {recommendation}"
    n, note = _stabilize(policy, state.recommendations, obs, recommendation)
    reason += note
    if n > obs.current:
        n, note = _limit_up(policy, state, obs, n)
        reason += note
    if n <= 1 and _idle_long_enough(policy, state, obs.at):
        return _Outcome(0, 0, f"idle {_idle_for(state, obs.at):g}s: scale to zero")
    return _Outcome(n, recommendation, reason)


# --- the HPA steps ---------------------------------------------------------------------------


def _hpa(policy: ScalePolicy, obs: Observation) -> tuple[int, str]:
    """HPA's `ceil(currentReplicas * currentMetricValue / desiredMetricValue)` over ready ones."""
    ready = min(obs.ready, obs.current)
    demand = _demand(policy, obs)
    ratio = demand / ready / policy.target
    head = f"{_describe(policy, obs)} over {ready} ready replicas, target {policy.target:g}"
    if abs(ratio - 1) <= policy.tolerance:
        return obs.current, f"{head}: within tolerance"
    if ratio > 1 and obs.current > ready:
        # As HPA does with unready pods: count starting replicas as idle ones, and hold if that
        # brings the ratio within tolerance or below 1; starting replicas are already the answer.
        ratio = demand / obs.current / policy.target
        if ratio <= 1 + policy.tolerance:
            return obs.current, f"{head}: {obs.current - ready} starting replicas cover it"
        ready = obs.current
    wanted = math.ceil(ratio * ready)
    return wanted, f"{head}: {wanted}"


def _stabilize(
    policy: ScalePolicy,
    history: tuple[tuple[float, int], ...],
    obs: Observation,
    newest: int,
) -> tuple[int, str]:
    """HPA: up to the lowest recommendation of the up window, down to the highest of the down
    window, else stay. The newest recommendation counts in both windows."""
    up_cutoff = obs.at - policy.scale_up_stabilization_s
    down_cutoff = obs.at - policy.scale_down_stabilization_s
    up = min([n for at, n in history if at > up_cutoff] + [newest])
    down = max([n for at, n in history if at > down_cutoff] + [newest])
    current = obs.current
    if current < up:
        return up, "" if up == newest else f"; scale-up window holds {up}"
    if current > down:
        return down, "" if down == newest else f"; scale-down window holds {down}"
    if newest != current:
        window = "scale-up" if newest > current else "scale-down"
        return current, f"; {window} window holds {current}"
    return current, ""


def _limit_up(
    policy: ScalePolicy, state: ScaleState, obs: Observation, replicas: int
) -> tuple[int, str]:
    """HPA's rate rule, counted from the fewest replicas at any scale-up inside the period, so
    repeating a decision the caller has not acted on yet does not raise the limit."""
    limit = policy.scale_up_limit
    if limit is None or replicas <= obs.current:
        return replicas, ""
    cutoff = obs.at - limit.period_s
    start = min([n for at, n in state.scale_ups if at > cutoff] + [obs.current])
    allowed = max(math.ceil(start * (1 + limit.percent / 100)), start + limit.pods, obs.current)
    if replicas <= allowed:
        return replicas, ""
    per = f"+{limit.percent:g}% or +{limit.pods} per {limit.period_s:g}s"
    return allowed, f"; rate limit ({per}) holds {allowed}"


# --- state -----------------------------------------------------------------------------------


def _next_state(
    policy: ScalePolicy, state: ScaleState, obs: Observation, outcome: _Outcome
) -> ScaleState:
    now = obs.at
    keep = max(policy.scale_up_stabilization_s, policy.scale_down_stabilization_s)
    history = _compact((*state.recommendations, (now, outcome.recommendation)))
    scale_ups = state.scale_ups
    limit = policy.scale_up_limit
    # From zero is not rate limited, so it does not count against the limit either.
    if limit is not None and 0 < obs.current < outcome.replicas:
        scale_ups = (*scale_ups, (now, obs.current))
    return replace(
        state,
        recommendations=tuple(e for e in history if e[0] > now - keep),
        scale_ups=tuple(e for e in scale_ups if limit and e[0] > now - limit.period_s),
    )


def _settle(state: ScaleState, now: float) -> ScaleState:
    last = state.last_active_at
    return ScaleState(
        recommendations=tuple(e for e in state.recommendations if e[0] <= now),
        scale_ups=tuple(e for e in state.scale_ups if e[0] <= now),
        last_active_at=None if last is None else min(last, now),
    )


def _compact(history: tuple[tuple[float, int], ...]) -> tuple[tuple[float, int], ...]:
    """Drop entries no window can pick: a window is a suffix of the history, so an entry with
    a later one at least as high never decides a maximum, and with a later one at least as low
    never decides a minimum. Keeps steady-state history at one entry."""
    kept: list[tuple[float, int]] = []
    later_max, later_min = -1, math.inf
    for at, n in reversed(history):
        if n > later_max or n < later_min:
            kept.append((at, n))
        later_max, later_min = max(later_max, n), min(later_min, n)
    return tuple(reversed(kept))


# --- small helpers ---------------------------------------------------------------------------


def _demand(policy: ScalePolicy, obs: Observation) -> float:
    return obs.value + obs.held if policy.metric == "concurrency" else obs.value


def _describe(policy: ScalePolicy, obs: Observation) -> str:
    held = f" (+{obs.held} held)" if obs.held and policy.metric == "concurrency" else ""
    return f"{policy.metric} {obs.value:.1f}{held}"


def _idle_for(state: ScaleState, now: float) -> float:
    return now - (now if state.last_active_at is None else state.last_active_at)


def _idle_long_enough(policy: ScalePolicy, state: ScaleState, now: float) -> bool:
    return policy.min_replicas == 0 and _idle_for(state, now) >= policy.scale_to_zero_after_s


def _bound(policy: ScalePolicy, n: int) -> int:
    """Within [min, max], and at least one: only the idle rule takes the last replica."""
    return max(policy.min_replicas, 1, min(n, policy.max_replicas))


def _check(policy: ScalePolicy, obs: Observation) -> None:
    errors = [f"policy.{e}" for e in validate_policy(policy)]
    if not math.isfinite(obs.at):
        errors.append(f"observation.at: must be a finite number (got {obs.at})")
    if not (math.isfinite(obs.value) and obs.value >= 0):
        errors.append(f"observation.value: must be a non-negative number (got {obs.value})")
    for name in ("current", "ready", "held"):
        if getattr(obs, name) < 0:
            errors.append(f"observation.{name}: must not be negative (got {getattr(obs, name)})")
    if errors:
        raise ValueError("; ".join(errors))


def _limit_errors(limit: ScaleUpLimit) -> list[str]:
    errors = []
    if not (math.isfinite(limit.percent) and limit.percent >= 0):
        errors.append(f"scale_up_limit.percent: must not be negative (got {limit.percent})")
    if limit.pods < 0:
        errors.append(f"scale_up_limit.pods: must not be negative (got {limit.pods})")
    if limit.percent == 0 and limit.pods == 0:
        errors.append("scale_up_limit: percent and pods are both 0, so it could never scale up")
    if not (math.isfinite(limit.period_s) and limit.period_s > 0):
        errors.append(f"scale_up_limit.period_s: must be a positive number (got {limit.period_s})")
    return errors


def _pairs(data: Mapping[str, Any], key: str) -> tuple[tuple[float, int], ...]:
    items = data.get(key) or []
    if not isinstance(items, list | tuple):
        raise ValueError(f"{key}: must be a list of [seconds, replicas] (got {items!r})")
    out = []
    for item in items:
        ok = isinstance(item, list | tuple) and len(item) == 2
        if not (ok and isinstance(item[0], int | float) and type(item[1]) is int):
            raise ValueError(f"{key}: each entry must be [seconds, replicas] (got {item!r})")
        out.append((float(item[0]), int(item[1])))
    return tuple(out)
