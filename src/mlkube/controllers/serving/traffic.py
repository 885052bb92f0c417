"""Which revisions an InferenceService has and how traffic splits between them (pure).

A revision is named after the service and a counter (`digits-predictor-00002`, as KServe and
Knative do) and identified by a fingerprint of what its replicas run: the model, its format,
the resources and the batching. Changing anything else (replica bounds, the scale target,
the canary percent) reshapes traffic or scaling but starts no new revision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from mlkube.api.serving import PredictorSpec

__all__ = [
    "RevisionPlan",
    "TrafficPlan",
    "fingerprint",
    "plan_traffic",
    "revision_name",
    "revision_number",
]


def fingerprint(predictor: PredictorSpec) -> str:
    """What makes replicas differ: a change here needs new replicas (a new revision)."""
    material = {
        "model": predictor.model.to_dict(),
        "resources": predictor.resources.to_dict(),
        "batching": predictor.batching.to_dict(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RevisionPlan:
    """`runs`: keep replicas up even without traffic (the newest revision, while it starts)."""

    name: str
    fingerprint: str
    percent: int
    runs: bool


@dataclass(frozen=True)
class TrafficPlan:
    """The revisions to keep (with their traffic share) and the rollout bookkeeping."""

    revisions: tuple[RevisionPlan, ...]
    latest: str
    previous_rolled_out: str | None


def revision_name(service: str, number: int) -> str:
    return f"{service}-predictor-{number:05d}"


def plan_traffic(
    service: str,
    predictor: PredictorSpec,
    *,
    known: dict[str, str],
    latest: str | None,
    previous_rolled_out: str | None,
    ready: frozenset[str],
) -> TrafficPlan:
    """Split traffic between the newest revision and the one rolled out before it.

    `known` maps the revision names still kept to their fingerprints; `latest` is the newest
    revision so far; `ready` names the revisions with a ready replica.
    - No canary percent (or 100): the newest takes everything once it is ready; until then the
      previously rolled-out revision keeps serving, so a rollout never drops traffic.
    - A canary percent p: the newest takes p%, the previously rolled-out one the rest.
    """
    wanted = fingerprint(predictor)
    if latest is None or known.get(latest) != wanted:
        # A new revision: the one serving now becomes the one to fall back to.
        if latest is not None and latest in ready:
            previous_rolled_out = latest
        number = 1 + max((revision_number(n) for n in known), default=0)
        latest = revision_name(service, number)
        known = {**known, latest: wanted}
    canary = predictor.canary_traffic_percent
    fallback = previous_rolled_out if previous_rolled_out in known else None
    if fallback == latest:
        fallback = None
    if fallback is None:
        shares = {latest: 100}
    elif canary is None or canary == 100:
        if latest in ready:
            shares, previous_rolled_out = {latest: 100}, latest
        else:
            shares = {latest: 0, fallback: 100}
    else:
        shares = {latest: canary, fallback: 100 - canary}
    plans = tuple(
        RevisionPlan(name, known[name], pct, pct > 0 or (name == latest and canary != 0))
        for name, pct in shares.items()
    )
    return TrafficPlan(plans, latest, previous_rolled_out)


def revision_number(name: str) -> int:
    """`digits-predictor-00002` → 2 (0 for a name that carries no number)."""
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
