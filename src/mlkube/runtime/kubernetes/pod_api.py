"""The few pod requests `KubernetesRuntime` makes, over the official client, with the
answers a missing pod gives (None, True) instead of exceptions.

Plain JSON in and out (`_preload_content=False`): the client's models would cost a
deserialization per pod, and our builders already speak dicts.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from mlkube.runtime.kubernetes.raw import body, bytes_of, json_of

__all__ = ["PodApi", "status_message"]

log = logging.getLogger("mlkube.runtime.kubernetes")
Pod = dict[str, Any]


class PodApi:
    """Create, read, delete pods and read their logs in any namespace."""

    def __init__(self, core: CoreV1Api) -> None:
        self.core = core

    def create(self, pod: Pod) -> None:
        """Create `pod` in its namespace; raises `ApiException` (409 when its name is taken)."""
        namespace = pod["metadata"]["namespace"]
        self.core.create_namespaced_pod(namespace, body(pod), _preload_content=False)

    def read(self, namespace: str, name: str) -> Pod | None:
        """The pod, or None when there is none of that name."""
        try:
            response = self.core.read_namespaced_pod(name, namespace, _preload_content=False)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        pod: Pod = json_of(response)
        return pod

    def delete(self, namespace: str, name: str, *, grace_seconds: float) -> bool:
        """Delete a pod; True when it was already gone. A grace period of 0 would make the
        API server forget the pod before its kubelet has killed it, so 1 second is the least."""
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=max(1, math.ceil(grace_seconds)),
                _preload_content=False,
            )
        except ApiException as err:
            if err.status == 404:
                return True
            log.warning("cannot delete pod %s/%s: %s", namespace, name, err.reason)
        return False

    def log(self, namespace: str, name: str) -> bytes:
        """The pod's whole log; raises `ApiException` when there is none to read."""
        response = self.core.read_namespaced_pod_log(name, namespace, _preload_content=False)
        return bytes_of(response)


def status_message(err: ApiException) -> str:
    """The API server's `Status.message`, else the HTTP reason."""
    try:
        status = json.loads(err.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return f"{err.status} {err.reason}"
