"""`mlkube serve`: put a model behind the Open Inference Protocol in one command.

It writes an `InferenceService` (creating it, or changing only the fields given on an
existing one, so `mlkube serve digits --model ... --canary-percent 10` starts a canary), then
waits until it is ready and prints its URL.
"""

from __future__ import annotations

import time
from typing import Any

import click

from mlkube.api.errors import NotFound
from mlkube.api.kinds import INFERENCE_SERVICE
from mlkube.api.serving import MODEL_FORMATS
from mlkube.cli.common import (
    client_for,
    config_option,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)
from mlkube.cli.render import dump
from mlkube.sdk.client import Client

__all__ = ["predictor_changes", "serve"]


def predictor_changes(
    *,
    model: str | None,
    model_format: str | None,
    min_replicas: int | None,
    max_replicas: int | None,
    scale_metric: str | None,
    scale_target: float | None,
    scale_to_zero_after: float | None,
    canary_percent: int | None,
    promote: bool,
    cpu: str | None,
    memory: str | None,
    gpus: int | None,
    max_batch_size: int | None,
) -> dict[str, Any]:
    """The predictor fields the options set; `None` values delete a field (merge patch)."""
    changes: dict[str, Any] = {}
    if model is not None:
        changes.setdefault("model", {})["storageUri"] = model
    if model_format is not None:
        changes.setdefault("model", {})["modelFormat"] = {"name": model_format}
    simple = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "scaleMetric": scale_metric,
        "scaleTarget": scale_target,
        "scaleToZeroAfterSeconds": scale_to_zero_after,
        "canaryTrafficPercent": canary_percent,
    }
    changes.update({k: v for k, v in simple.items() if v is not None})
    if promote:
        changes["canaryTrafficPercent"] = None
    resources = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpus}
    if any(v is not None for v in resources.values()):
        changes["resources"] = {k: v for k, v in resources.items() if v is not None}
    if max_batch_size is not None:
        changes["batching"] = {"maxBatchSize": max_batch_size}
    return changes


def _manifest(name: str, namespace: str, predictor: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": INFERENCE_SERVICE.api_version,
        "kind": INFERENCE_SERVICE.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"predictor": predictor},
    }


def _wait_ready(client: Client, name: str, namespace: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    generation = None
    while True:
        obj = client.get(INFERENCE_SERVICE.plural, name, namespace)
        generation = obj["metadata"].get("generation")
        status = obj.get("status") or {}
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        ready: dict[str, Any] = next((c for c in conditions if c["type"] == "Ready"), {})
        current = status.get("observedGeneration") == generation
        if current and ready.get("status") == "True":
            return obj
        if current and ready.get("reason") in ("ModelNotFound", "Unschedulable", "ReplicaFailed"):
            raise click.ClickException(f"{ready['reason']}: {ready.get('message', '')}")
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"not ready after {timeout:.0f}s: {ready.get('reason', 'Unknown')} "
                f"{ready.get('message', '')}"
            )
        time.sleep(0.2)


@click.command()
@click.argument("name")
@click.option("--model", help="pipelinerun://RUN/STEP/OUTPUT, file:///PATH or /PATH.")
@click.option("--format", "model_format", type=click.Choice(MODEL_FORMATS), help="Model format.")
@click.option("--min-replicas", type=int, help="0 allows scale to zero.")
@click.option("--max-replicas", type=int)
@click.option("--scale-metric", type=click.Choice(["concurrency", "rps"]))
@click.option("--scale-target", type=float, help="Per-replica target of the scale metric.")
@click.option("--scale-to-zero-after", type=float, help="Idle seconds before scaling to zero.")
@click.option("--canary-percent", type=click.IntRange(0, 100), help="Traffic for the new model.")
@click.option("--promote", is_flag=True, help="Send all traffic to the newest revision.")
@click.option("--cpu", help="CPU per replica, e.g. 1 or 500m.")
@click.option("--memory", help="Memory per replica, e.g. 1Gi.")
@click.option("--gpus", type=int, help="NVIDIA GPUs per replica.")
@click.option("--max-batch-size", type=int, help="Adaptive batching: most rows per batch.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until ready.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait.")
@click.option("--dry-run", is_flag=True, help="Print what would be written, not write it.")
@namespace_option
@config_option
@handle_errors
def serve(
    name: str,
    namespace: str | None,
    config_path: str | None,
    wait: bool,
    timeout: float,
    dry_run: bool,
    **options: Any,
) -> None:
    """Serve a model over the Open Inference Protocol (creates or updates an InferenceService)."""
    client = client_for(config_path)
    ns = ns_for(client, namespace)
    changes = predictor_changes(**options)
    try:
        client.get(INFERENCE_SERVICE.plural, name, ns)
        exists = True
    except NotFound:
        exists = False
    if not exists and "model" not in changes:
        raise click.UsageError(f"inferenceservice {name!r} does not exist yet: give --model")
    if not exists:
        changes["model"].setdefault("modelFormat", {"name": "sklearn"})
        if "canaryTrafficPercent" in changes and changes["canaryTrafficPercent"] is None:
            del changes["canaryTrafficPercent"]  # --promote: nothing to promote yet
    if dry_run:
        out.print(dump(_manifest(name, ns, changes), "yaml"), highlight=False, markup=False)
        return
    if exists:
        client.patch(INFERENCE_SERVICE.plural, name, {"spec": {"predictor": changes}}, ns)
        out.print(f"inferenceservice.mlkube.io/{name} configured", highlight=False)
    else:
        client.create(_manifest(name, ns, changes))
        out.print(f"inferenceservice.mlkube.io/{name} created", highlight=False)
    if not wait:
        return
    obj = _wait_ready(client, name, ns, timeout)
    status = obj["status"]
    traffic = ", ".join(
        f"{r['name']} {r['percent']}%" for r in status.get("revisions", []) if r.get("percent")
    )
    out.print(f"ready: {status.get('url')}", highlight=False)
    if traffic:
        out.print(f"traffic: {traffic}", highlight=False)
