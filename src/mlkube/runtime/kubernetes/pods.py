"""What every pod we build shares: labels, owner, resources, security, scratch space, env.

Every pod meets the `restricted` Pod Security Standard: it runs as a non-root user, cannot
escalate privileges, drops every capability, uses the runtime's default seccomp profile and
has a read-only root filesystem. Programs write to `/tmp`, an emptyDir (HOME points there, so
libraries that cache under `~` keep working).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlkube.api.meta import ObjectMeta
from mlkube.api.quantity import cpu_millis, format_bytes, format_millis, memory_bytes
from mlkube.api.resources import Resources
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.gpus import GpuScheduling
from mlkube.runtime.kubernetes.names import label_value
from mlkube.runtime.kubernetes.settings import ClusterSettings

SCRATCH = "/tmp"
MANAGED_BY = "mlkube-operator"


def labels(component: str, instance: str, **ours: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels, then ours (`mlkube.io/KEY: value`)."""
    out = {
        "app.kubernetes.io/name": "mlkube",
        "app.kubernetes.io/instance": label_value(instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "mlkube",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    out.update({f"mlkube.io/{key}": label_value(value) for key, value in ours.items()})
    return out


def selector(labels: dict[str, str]) -> dict[str, str]:
    """The labels that pick an object's pods: its component and our `mlkube.io/*` keys
    (the `app.kubernetes.io/*` rest describes, and may change between versions)."""
    return {
        key: value
        for key, value in labels.items()
        if key == "app.kubernetes.io/component" or key.startswith("mlkube.io/")
    }


def owner_reference(kind: str, meta: ObjectMeta, *, where: str = "metadata") -> dict[str, Any]:
    """The controller reference to our object: its children are deleted with it."""
    if not meta.name or not meta.uid:
        raise TranslationError(
            f"{where}.uid" if meta.name else f"{where}.name",
            f"a {kind}'s name and uid are needed to own what it becomes (the apiserver sets "
            "the uid when the object is created)",
        )
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": kind,
        "name": meta.name,
        "uid": meta.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    name: str, namespace: str, *, labels: dict[str, str], owner: dict[str, Any] | None
) -> dict[str, Any]:
    """`metadata` of a namespaced child object."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return meta


def container_resources(
    resources: Resources,
    gpus: GpuScheduling,
    settings: ClusterSettings,
    *,
    memory_limit_bytes: int | None = None,
) -> dict[str, Any]:
    """Requests and limits: CPU and memory asked for are both (a Guaranteed-like pod, as the
    local runtime pins and caps them); those not asked for get the settings' default request
    and no limit; GPUs are limits only, as device plugins require."""
    asked: dict[str, str] = {}
    if resources.cpu is not None:
        asked["cpu"] = format_millis(cpu_millis(resources.cpu))
    if memory_limit_bytes is not None:
        asked["memory"] = format_bytes(memory_limit_bytes)
    elif resources.memory is not None:
        asked["memory"] = format_bytes(memory_bytes(resources.memory))
    requests = {**{k: v for k, v in settings.default_requests.items() if k not in asked}, **asked}
    limits: dict[str, Any] = {**asked, **gpus.limits}
    out: dict[str, Any] = {"requests": requests}
    if limits:
        out["limits"] = limits
    return out


def env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    """`env` as Kubernetes lists it; later keys of the mapping already won over earlier ones."""
    return [{"name": name, "value": value} for name, value in env.items()]


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(settings: ClusterSettings) -> dict[str, Any]:
    uid = settings.run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(
    name: str,
    *,
    command: list[str],
    env: Mapping[str, str],
    resources: dict[str, Any],
    settings: ClusterSettings,
) -> dict[str, Any]:
    """A container of `settings.image` with the shared security context and `/tmp` mount."""
    out: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "command": command,
        "env": env_list({"HOME": SCRATCH, **env}),
        "resources": resources,
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH}],
    }
    if settings.artifact_credentials_secret:
        out["envFrom"] = [{"secretRef": {"name": settings.artifact_credentials_secret}}]
    return out


def pod_spec(
    main: dict[str, Any],
    gpus: GpuScheduling,
    settings: ClusterSettings,
    *,
    restart_policy: str,
    priority_class: str | None = None,
) -> dict[str, Any]:
    """A pod spec around one container: GPU placement, priority, security, scratch volume."""
    spec: dict[str, Any] = {"restartPolicy": restart_policy}
    if priority_class:
        spec["priorityClassName"] = priority_class
    if gpus.node_selector:
        spec["nodeSelector"] = dict(gpus.node_selector)
    if gpus.affinity:
        spec["affinity"] = gpus.affinity
    if gpus.tolerations:
        spec["tolerations"] = list(gpus.tolerations)
    spec["securityContext"] = pod_security(settings)
    spec["containers"] = [main]
    spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    return spec
