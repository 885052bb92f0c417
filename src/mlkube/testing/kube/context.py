"""What every request handler of the fake kube-apiserver is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import Served
from mlkube.testing.kube.validation import validate


@dataclass(frozen=True)
class FakeApiContext:
    """What every handler needs: the store, the schema version, where pods' logs are."""

    store: ResourceStore
    kubernetes_version: str
    pod_log: Callable[[str, str], Path | None]

    def validate(self, served: Served, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The object to store, or `Invalid` (see `validation.validate`)."""
        return validate(served, obj, version=self.kubernetes_version)
