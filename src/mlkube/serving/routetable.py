"""The router's route table: its JSON shape, validation, and which service a request addresses.

The table is set whole (``PUT /routes`` on the router's admin port). Its JSON shape::

    {"services": [
      {"namespace": "team-a", "name": "iris", "activation_timeout_s": 60,
       "revisions": [
         {"name": "iris-00002", "percent": 80,
          "endpoints": [{"id": "iris-00002-0", "host": "127.0.0.1", "port": 40123}]},
         {"name": "iris-00001", "percent": 20, "endpoints": []}]}]}

Validation is all-or-nothing: :func:`parse_route_table` either returns the whole table or raises
:class:`RouteTableError` naming the field and the reason. Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ACTIVATION_TIMEOUT_S",
    "EndpointSpec",
    "RevisionSpec",
    "RouteTableError",
    "ServiceSpec",
    "parse_route_table",
    "route_table_json",
    "split_service_host",
    "split_service_path",
]

DEFAULT_ACTIVATION_TIMEOUT_S = 60.0
SERVICE_PATH_PREFIX = "/serving/"

# Namespace and service name become Host labels ({name}.{namespace}.domain): DNS-1123 labels.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Revision names and endpoint ids go into response headers: a safe token.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


class RouteTableError(ValueError):
    """A route table was rejected; the message names the field and the reason."""


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One ready replica: ``id`` is reported in ``x-mlkube-replica``."""

    id: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class RevisionSpec:
    """A revision and its share of the service's traffic (``percent``, 0..100)."""

    name: str
    percent: int
    endpoints: tuple[EndpointSpec, ...]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One InferenceService; its revisions' percents sum to 100."""

    namespace: str
    name: str
    revisions: tuple[RevisionSpec, ...]
    activation_timeout_s: float = DEFAULT_ACTIVATION_TIMEOUT_S

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def parse_route_table(doc: object) -> tuple[ServiceSpec, ...]:
    """Validate a decoded JSON document ``{"services": [...]}``; raise RouteTableError."""
    top = _object(doc, "route table", required={"services"}, optional=set())
    services = _list(top["services"], "services")
    out: list[ServiceSpec] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(services):
        svc = _service(raw, f"services[{i}]")
        if svc.key in seen:
            raise RouteTableError(f"services[{i}]: duplicate service {svc.namespace}/{svc.name}")
        seen.add(svc.key)
        out.append(svc)
    return tuple(out)


def route_table_json(services: tuple[ServiceSpec, ...]) -> dict[str, object]:
    """The table as JSON-ready data, with defaults filled in (what ``GET /routes`` returns)."""
    return {
        "services": [
            {
                "namespace": s.namespace,
                "name": s.name,
                "activation_timeout_s": s.activation_timeout_s,
                "revisions": [
                    {
                        "name": r.name,
                        "percent": r.percent,
                        "endpoints": [
                            {"id": e.id, "host": e.host, "port": e.port} for e in r.endpoints
                        ],
                    }
                    for r in s.revisions
                ],
            }
            for s in services
        ]
    }


def _service(raw: object, where: str) -> ServiceSpec:
    obj = _object(
        raw, where, required={"namespace", "name", "revisions"}, optional={"activation_timeout_s"}
    )
    namespace = _match(obj["namespace"], f"{where}.namespace", _DNS_LABEL, "a DNS-1123 label")
    name = _match(obj["name"], f"{where}.name", _DNS_LABEL, "a DNS-1123 label")
    timeout = obj.get("activation_timeout_s", DEFAULT_ACTIVATION_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise RouteTableError(
            f"{where}.activation_timeout_s: must be a number > 0, got {timeout!r}"
        )
    raw_revisions = _list(obj["revisions"], f"{where}.revisions")
    if not raw_revisions:
        raise RouteTableError(f"{where}.revisions: must list at least one revision")
    revisions = tuple(_revision(r, f"{where}.revisions[{j}]") for j, r in enumerate(raw_revisions))
    names = [r.name for r in revisions]
    if len(set(names)) != len(names):
        raise RouteTableError(f"{where}.revisions: revision names must be unique, got {names}")
    total = sum(r.percent for r in revisions)
    if total != 100:
        raise RouteTableError(
            f"{where}.revisions: percents of {namespace}/{name} must sum to 100, got {total}"
        )
    return ServiceSpec(namespace, name, revisions, float(timeout))


def _revision(raw: object, where: str) -> RevisionSpec:
    obj = _object(raw, where, required={"name", "percent"}, optional={"endpoints"})
    name = _match(obj["name"], f"{where}.name", _TOKEN, "a token of [A-Za-z0-9._-]")
    percent = obj["percent"]
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise RouteTableError(f"{where}.percent: must be an integer 0..100, got {percent!r}")
    raw_eps = _list(obj.get("endpoints", []), f"{where}.endpoints")
    endpoints = tuple(_endpoint(e, f"{where}.endpoints[{k}]") for k, e in enumerate(raw_eps))
    ids = [e.id for e in endpoints]
    if len(set(ids)) != len(ids):
        raise RouteTableError(f"{where}.endpoints: endpoint ids must be unique, got {ids}")
    return RevisionSpec(name, percent, endpoints)


def _endpoint(raw: object, where: str) -> EndpointSpec:
    obj = _object(raw, where, required={"id", "host", "port"}, optional=set())
    ident = _match(obj["id"], f"{where}.id", _TOKEN, "a token of [A-Za-z0-9._-]")
    host = obj["host"]
    if not isinstance(host, str) or not host or any(c in host for c in " /\r\n"):
        raise RouteTableError(f"{where}.host: must be a host name or IP address, got {host!r}")
    port = obj["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise RouteTableError(f"{where}.port: must be an integer 1..65535, got {port!r}")
    return EndpointSpec(ident, host, port)


def _object(
    raw: object, where: str, *, required: set[str], optional: set[str]
) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise RouteTableError(f"{where}: must be an object, got {type(raw).__name__}")
    missing = sorted(required - raw.keys())
    if missing:
        raise RouteTableError(f"{where}: missing field {', '.join(missing)}")
    unknown = sorted(set(raw) - required - optional)
    if unknown:
        raise RouteTableError(f"{where}: unknown field {', '.join(map(str, unknown))}")
    return raw


def _list(raw: object, where: str) -> list[object]:
    if not isinstance(raw, list):
        raise RouteTableError(f"{where}: must be a list, got {type(raw).__name__}")
    return raw


def _match(raw: object, where: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise RouteTableError(f"{where}: must be {what}, got {raw!r}")
    return raw


def split_service_path(path: str) -> tuple[str, str, str] | None:
    """``/serving/{ns}/{name}/<rest>`` -> ``(ns, name, "/<rest>")``; None for other paths."""
    if not path.startswith(SERVICE_PATH_PREFIX):
        return None
    namespace, sep, tail = path[len(SERVICE_PATH_PREFIX) :].partition("/")
    if not sep or not namespace:
        return None
    name, _, rest = tail.partition("/")
    if not name:
        return None
    return namespace, name, "/" + rest


def split_service_host(host: str) -> tuple[str, str] | None:
    """Host ``{name}.{namespace}.<domain>[:port]`` -> ``(ns, name)``; None for IPs, short names."""
    if not host or host.startswith("["):  # IPv6 literal
        return None
    hostname = host.partition(":")[0].lower()
    labels = hostname.split(".", 2)
    if len(labels) < 3 or not all(labels) or _IPV4.fullmatch(hostname):
        return None
    return labels[1], labels[0]
