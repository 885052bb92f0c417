"""A router stand-in for controller tests: remembers route tables, serves scripted stats."""

from __future__ import annotations

from mlkube.controllers.serving.router_client import ServiceRoute, ServiceStats

__all__ = ["FakeRouter"]


class FakeRouter:
    """Implements `RouterAdmin`. Set `traffic[ns/name]` to what the next `stats()` returns."""

    def __init__(self, public_url: str = "http://127.0.0.1:9999") -> None:
        self._public_url = public_url
        self.tables: list[list[ServiceRoute]] = []
        self.traffic: dict[str, ServiceStats] = {}
        self.refuse: str | None = None

    @property
    def public_url(self) -> str:
        return self._public_url

    def set_routes(self, routes: list[ServiceRoute]) -> None:
        if self.refuse:
            raise RuntimeError(f"router refused the route table: {self.refuse}")
        self.tables.append(list(routes))

    def stats(self) -> dict[str, ServiceStats]:
        return dict(self.traffic)

    def route(self, key: str) -> ServiceRoute | None:
        """The newest route of `ns/name`, or None when the service has none."""
        table = self.tables[-1] if self.tables else []
        return next((r for r in table if f"{r.namespace}/{r.name}" == key), None)
