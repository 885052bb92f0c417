"""The one error the builders raise: what cannot become a Kubernetes object, and why."""

from __future__ import annotations


class TranslationError(ValueError):
    """`field` (a path in our object, e.g. `spec.resources.amd.com/gpu`) has no Kubernetes
    form; `reason` says why and what to do instead. Nothing is built when this is raised."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
