"""Pod status pieces the fake kubelet writes: conditions, terminated states, probes (pure,
apart from reading the clock for timestamps and the readiness probe's one HTTP request)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlkube.store.objects import format_time


def now() -> str:
    return format_time(datetime.now(UTC))


def terminated(code: int, reason: str, started_at: str) -> dict[str, Any]:
    return {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": now()}


def condition(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    condition: dict[str, Any] = {"type": kind, "status": status, "lastTransitionTime": now()}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def merge_conditions(pod: Mapping[str, Any], updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conditions with `updates` applied by type; an unchanged condition keeps its
    lastTransitionTime (so rewriting the same status is a no-op write)."""
    current = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
    for update in updates:
        old = current.get(update["type"])
        same = old is not None and all(
            old.get(k) == update.get(k) for k in ("status", "reason", "message")
        )
        current[update["type"]] = old if same and old is not None else update
    return list(current.values())


def http_probe(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    probe = (pod["spec"]["containers"][0].get("readinessProbe") or {}).get("httpGet")
    return probe if isinstance(probe, dict) else None


def probe_passes(pod: Mapping[str, Any]) -> bool:
    """Whether the first container's httpGet readiness probe answers 2xx or 3xx now."""
    probe = http_probe(pod)
    if probe is None:
        return True
    port = probe.get("port")
    if isinstance(port, str) and not port.isdigit():
        named = {
            p.get("name"): p.get("containerPort")
            for p in pod["spec"]["containers"][0].get("ports") or []
        }
        port = named.get(port)
    scheme = str(probe.get("scheme", "HTTP")).lower()
    url = f"{scheme}://127.0.0.1:{port}{probe.get('path', '/')}"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:
            return 200 <= int(answer.status) < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False
