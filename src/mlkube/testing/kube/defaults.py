"""Defaulting on create, as the kube-apiserver's defaulters and the Job/Service registries do.

Pure functions over a copy of the object: fields a client may leave out get the value the
real apiserver fills in, so the controllers (and the official client, which requires some of
them when it reads an object back) see what they would see on a cluster. Only the defaults
the fake's controllers or clients rely on are filled, not every one Kubernetes has.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

JOB_NAME = "batch.kubernetes.io/job-name"
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
_cluster_ips: Iterator[int] = itertools.count(10)


def defaulted(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` (a new object of `kind`) with the apiserver's defaults filled in."""
    out = copy.deepcopy(dict(obj))
    fill = _DEFAULTERS.get(kind)
    if fill is not None:
        fill(out)
    return out


def _pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _pod_spec(spec)
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}


def _pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    for container in spec.get("containers") or []:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        resources = container.setdefault("resources", {})
        # Limits without requests: the requests are the limits, as the apiserver defaults them.
        if resources.get("limits"):
            requests = resources.setdefault("requests", {})
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)


def _qos_class(spec: Mapping[str, Any]) -> str:
    containers = spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(k) for r in resources for k in ("cpu", "memory")
    ) and all(r.get("requests") == r.get("limits") for r in resources)
    return "Guaranteed" if guaranteed else "Burstable"


def _template(spec: dict[str, Any]) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    _pod_spec(template.setdefault("spec", {}))


def _job(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("suspend", False)
    _template(spec)
    # A real Job selects its pods by a controller-uid label; the store assigns uids after
    # this runs, so the fake selects by job name and its controller matches pods by owner uid.
    labels = {JOB_NAME: obj.setdefault("metadata", {}).get("name", "")}
    if not spec.get("selector"):
        spec["selector"] = {"matchLabels": dict(labels)}
    spec["template"]["metadata"].setdefault("labels", {}).update(labels)
    obj["status"] = {}


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    _template(spec)
    obj["status"] = {}


def _service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        n = next(_cluster_ips)
        spec["clusterIP"] = f"10.96.{n // 250}.{n % 250 + 1}"
        spec["clusterIPs"] = [spec["clusterIP"]]
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj["status"] = {"loadBalancer": {}}


def _namespace(obj: dict[str, Any]) -> None:
    name = obj.setdefault("metadata", {}).get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}


def _custom_resource_definition(obj: dict[str, Any]) -> None:
    """Stored only: the CRD's kind is not served (the fake serves ours from the start), so it
    is accepted and Established at once, as a kube-apiserver reports it a moment later."""
    spec = obj.get("spec") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }
        for kind, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    obj["status"] = {
        "acceptedNames": spec.get("names") or {},
        "conditions": conditions,
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }


_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Pod": _pod,
    "Job": _job,
    "Deployment": _deployment,
    "Service": _service,
    "Namespace": _namespace,
    "CustomResourceDefinition": _custom_resource_definition,
}
