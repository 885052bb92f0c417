"""What every request handler of the fake kube-apiserver is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkube.store.base import ResourceStore
from mlkube.testing.kube.addons import served_version_schema, validate_addon
from mlkube.testing.kube.resources import Served
from mlkube.testing.kube.validation import validate
from mlkube.testing.kube.webhooks import AdmissionWebhooks


@dataclass(frozen=True)
class FakeApiContext:
    """What every handler needs: the store, the schema version, where pods' logs are, the
    validating webhooks' caller."""

    store: ResourceStore
    kubernetes_version: str
    pod_log: Callable[[str, str], Path | None]
    webhooks: AdmissionWebhooks = field(default_factory=AdmissionWebhooks)

    def validate(self, served: Served, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The object to store, or `Invalid` (see `validation.validate`, and
        `addons.validate_addon` for another project's kind, checked by its stored CRD)."""
        if served.requires_crd:
            return validate_addon(served_version_schema(self.store, served) or {}, served, obj)
        return validate(served, obj, version=self.kubernetes_version)
