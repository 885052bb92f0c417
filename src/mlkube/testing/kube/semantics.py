"""Checks the kube-apiserver makes in code rather than in its OpenAPI schemas (pure).

The schemas say `replicas` is an integer; the apiserver's validation also says it is not
negative, that a Deployment's selector matches its template, that a Job's pods do not
restart `Always`. These are the ones the fake's controllers rely on; the rest of upstream's
hand-written validation is not reproduced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlkube.api.errors import Cause

Check = Callable[[Mapping[str, Any]], list[Cause]]


def _non_negative(obj: Mapping[str, Any], *fields: str) -> list[Cause]:
    spec = obj.get("spec") or {}
    return [
        Cause(f"spec.{f}", f"Invalid value: {spec[f]}: must be greater than or equal to 0")
        for f in fields
        if isinstance(spec.get(f), int) and spec[f] < 0
    ]


def _selector_matches_template(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return [
            Cause(
                "spec.template.metadata.labels",
                f"Invalid value: {labels}: `selector` does not match template `labels`",
            )
        ]
    return []


def _deployment(obj: Mapping[str, Any]) -> list[Cause]:
    return _non_negative(obj, "replicas") + _selector_matches_template(obj)


def _job(obj: Mapping[str, Any]) -> list[Cause]:
    causes = _non_negative(
        obj, "parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"
    )
    spec = obj.get("spec") or {}
    policy = (((spec.get("template") or {}).get("spec")) or {}).get("restartPolicy")
    if policy not in (None, "Never", "OnFailure"):
        causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        )
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        causes.append(
            Cause(
                "spec.completions",
                "Required value: when completion mode is Indexed",
                "FieldValueRequired",
            )
        )
    return causes


CHECKS: dict[str, Check] = {
    "Deployment": _deployment,
    "ReplicaSet": _deployment,
    "Job": _job,
}


def semantic_causes(kind: str, obj: Mapping[str, Any]) -> list[Cause]:
    """What the apiserver's own validation refuses in an object of `kind`."""
    check = CHECKS.get(kind)
    return [] if check is None else check(obj)
