"""Whether a CustomResourceDefinition is installed on the cluster, asked rarely.

The operator builds some objects only where their CRD exists (a VerticalPodAutoscaler needs
`verticalpodautoscalers.autoscaling.k8s.io`). CRDs are installed and removed by people, seldom;
asking the API server on every reconcile would cost a request per InferenceService per pass,
so the answer is kept for `recheck_seconds` of the clock's monotonic time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from mlkube.api.clock import Clock
from mlkube.api.errors import ApiError, NotFound
from mlkube.store.base import ResourceStore
from mlkube.store.kube_http import ResourceInfo

__all__ = ["CRDS", "CRD_RESOURCES", "CrdPresence", "established"]

log = logging.getLogger("mlkube.controllers.crd_presence")

CRDS = "customresourcedefinitions.apiextensions.k8s.io"
CRD_RESOURCES: dict[str, ResourceInfo] = {
    CRDS: ("apiextensions.k8s.io", "v1", "customresourcedefinitions", False),
}
RECHECK_SECONDS = 300.0


def established(crd: Mapping[str, Any], version: str) -> bool:
    """Whether the CRD serves `version` and the API server reports it Established."""
    spec, status = crd.get("spec") or {}, crd.get("status") or {}
    served = any(v.get("name") == version and v.get("served") for v in spec.get("versions") or [])
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
    return served and ready


class CrdPresence:
    """Whether the CRD `name` is installed, Established and serving `version`; the answer is
    asked of `store` (which must serve `CRD_RESOURCES`) at most once per `recheck_seconds`.
    An error reading it (no permission, the API server away) counts as not installed and is
    asked again at the next recheck. Safe to call from several threads."""

    def __init__(
        self,
        store: ResourceStore,
        name: str,
        *,
        version: str,
        clock: Clock,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.store = store
        self.name = name
        self.version = version
        self.clock = clock
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._answer = False
        self._asked_at: float | None = None

    def installed(self) -> bool:
        """The cached answer, asked again once it is `recheck_seconds` old."""
        with self._lock:
            now = self.clock.monotonic()
            if self._asked_at is None or now - self._asked_at >= self.recheck_seconds:
                self._answer = self._ask()
                self._asked_at = now
            return self._answer

    def _ask(self) -> bool:
        try:
            crd = self.store.get(CRDS, "", self.name)
        except NotFound:
            return False
        except ApiError as err:
            log.warning("cannot read the CRD %s, taken as not installed: %s", self.name, err)
            return False
        return established(crd, self.version)
