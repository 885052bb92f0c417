"""A model-server replica: one model behind the Open Inference Protocol (KServe v2 REST).

`build_app` returns the request handler (usable without sockets in tests); `main` is the
process entry, `python -m mlkube.serving.replica --name iris --model model.joblib`, which
loads the model (exit 1 with a message on stderr when it cannot), binds, writes
`{"port": P, "pid": N}` atomically to `--ready-file`, and serves until SIGTERM or SIGINT,
finishing in-flight requests before it exits. Without `--model` the model is the artifact
the environment names (`MLKUBE_MODEL_ARTIFACT_URI`, ...: see `mlkube.serving.fetch`), fetched
before loading, as the operator starts replicas of a model a pipeline run produced.

Routes: GET /v2/health/live, /v2/health/ready, /v2, /metrics,
/v2/models/{name}[/versions/{v}] and .../ready; POST /v2/models/{name}[/versions/{v}]/infer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlkube.serving.batching import Batcher
from mlkube.serving.fetch import ARTIFACT_URI_ENV, ModelFetchError, model_from_environment
from mlkube.serving.http import (
    Request,
    Response,
    error_response,
    install_uvloop,
    json_response,
    start_server,
    stop_event,
    write_ready_file,
)
from mlkube.serving.metrics import CONTENT_TYPE, LATENCY_BUCKETS, new_registry, render
from mlkube.serving.models import Model, ModelLoadError, conform, load_model
from mlkube.serving.protocol import (
    BinaryOutput,
    InferRequest,
    ProtocolError,
    RequestedOutput,
    encode_infer_response,
    parse_infer_request,
)

__all__ = [
    "EXTENSIONS",
    "ReplicaApp",
    "ReplicaMetrics",
    "build_app",
    "main",
]

EXTENSIONS = ("binary_tensor_data",)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_MODELS_PREFIX = "/v2/models/"
Array = np.ndarray[Any, Any]


def _server_version() -> str:
    try:
        return dist_version("mlkube")
    except PackageNotFoundError:
        return "0+unknown"


class ReplicaMetrics:
    """The replica's Prometheus series, in its own registry."""

    def __init__(self, registry: CollectorRegistry, model: str, version: str) -> None:
        self.registry = registry
        labels = {"model": model, "version": version}
        self._requests = Counter(
            "mlkube_model_requests",
            "Inference requests by HTTP status code.",
            ["model", "version", "code"],
            registry=registry,
        )
        self._by_code = {
            code: self._requests.labels(**labels, code=str(code)) for code in (200, 400)
        }
        self._labels = labels
        self.inference = Histogram(
            "mlkube_model_inference_duration_seconds",
            "Time the model spent predicting one batch.",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ).labels(**labels)
        self.batch_size = Histogram(
            "mlkube_model_batch_size",
            "Rows per batch given to the model.",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        ).labels(**labels)
        self.queue_length = Gauge(
            "mlkube_model_queue_length",
            "Requests waiting for a batch.",
            ["model", "version"],
            registry=registry,
        ).labels(**labels)
        # What the HPA's `scaleMetric: concurrency` reads (through a custom-metrics adapter).
        self.in_flight = Gauge(
            "mlkube_model_in_flight",
            "Inference requests being handled: received, not yet answered.",
            ["model", "version"],
            registry=registry,
        ).labels(**labels)

    def count(self, code: int) -> None:
        """Count one inference request answered with `code`."""
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(**self._labels, code=str(code))
        child.inc()

    def observe_batch(self, rows: int, requests: int, seconds: float) -> None:
        """Record one finished batch (the batcher's observer)."""
        self.batch_size.observe(rows)
        self.inference.observe(seconds)


class ReplicaApp:
    """The OIP request handler for one model; `ready` turns false while shutting down."""

    def __init__(
        self, model: Model, batcher: Batcher, metrics: ReplicaMetrics, server_name: str
    ) -> None:
        self.model = model
        self.batcher = batcher
        self.metrics = metrics
        self.ready = True
        self._input_names = [spec.name for spec in model.inputs]
        self._output_names = {spec.name for spec in model.outputs}
        # What a request that names no outputs gets, by its binary_data_output flag.
        self._defaults = {
            binary: tuple(RequestedOutput(name, binary) for name in model.default_outputs)
            for binary in (False, True)
        }
        self._server_meta = orjson.dumps(
            {"name": server_name, "version": _server_version(), "extensions": list(EXTENSIONS)}
        )
        self._model_meta = orjson.dumps(
            {
                "name": model.name,
                "versions": [model.version],
                "platform": model.platform,
                "inputs": [spec.to_dict() for spec in model.inputs],
                "outputs": [spec.to_dict() for spec in model.outputs],
            }
        )
        self._static: dict[str, Callable[[], Response]] = {
            "/v2/health/live": lambda: json_response(200, {"live": True}),
            "/v2/health/ready": self._ready,
            "/v2": lambda: Response(body=self._server_meta),
            "/metrics": lambda: Response(body=render(metrics.registry), content_type=CONTENT_TYPE),
        }

    async def __call__(self, req: Request) -> Response:
        """Answer one HTTP request; protocol errors are `{"error": ...}` with 400/404/405."""
        if req.path.startswith(_MODELS_PREFIX):
            return await self._model_route(req)
        route = self._static.get(req.path.rstrip("/") or "/")
        if route is None:
            return error_response(404, f"no route for {req.path}")
        if req.method not in ("GET", "HEAD"):
            return error_response(405, f"{req.path} accepts GET only")
        return route()

    async def close(self) -> None:
        """Stop answering ready, and finish the queued inference requests."""
        self.ready = False
        await self.batcher.close()

    def _ready(self) -> Response:
        return json_response(200 if self.ready else 503, {"ready": self.ready})

    async def _model_route(self, req: Request) -> Response:
        parts = unquote(req.path[len(_MODELS_PREFIX) :]).split("/")
        action = parts.pop() if len(parts) in (2, 4) else ""
        if len(parts) == 3 and parts[1] == "versions":
            name, version = parts[0], parts[2]
        elif len(parts) == 1:
            name, version = parts[0], None
        else:
            return error_response(404, f"no route for {req.path}")
        missing = self._find(name, version)
        if missing is not None:
            return missing
        if action == "infer":
            if req.method != "POST":
                return error_response(405, f"{req.path} accepts POST only")
            return await self._infer(req)
        if req.method not in ("GET", "HEAD"):
            return error_response(405, f"{req.path} accepts GET only")
        if action == "ready":
            return self._ready()
        if action == "":
            return Response(body=self._model_meta)
        return error_response(404, f"no route for {req.path}")

    def _find(self, name: str, version: str | None) -> Response | None:
        if name != self.model.name:
            return error_response(
                404, f"unknown model '{name}'; this server serves '{self.model.name}'"
            )
        if version is not None and version != self.model.version:
            return error_response(
                404,
                f"unknown version '{version}' of model '{name}'; available: {self.model.version}",
            )
        return None

    async def _infer(self, req: Request) -> Response:
        with self.metrics.in_flight.track_inprogress():
            try:
                response = await self._infer_or_raise(req)
            except ProtocolError as exc:
                response = error_response(exc.status, exc.message)
        self.metrics.count(response.status)
        return response

    async def _infer_or_raise(self, req: Request) -> Response:
        header = req.headers.get("inference-header-content-length")
        if header is not None and not (header := header.strip()).isdigit():
            raise ProtocolError(f"Inference-Header-Content-Length {header!r} is not a number")
        parsed = parse_infer_request(req.body, int(header) if header is not None else None)
        inputs = self._conform(parsed)
        wanted = self._requested(parsed)
        try:
            result = await self.batcher.predict(inputs, [out.name for out in wanted])
        except ValueError as exc:  # runtimes (scikit-learn...) reject bad values with it
            raise ProtocolError(f"model '{self.model.name}' rejected the request: {exc}") from exc
        except Exception as exc:
            message = f"model '{self.model.name}' failed: {type(exc).__name__}: {exc}"
            raise ProtocolError(message, status=500) from exc
        return self._respond(parsed, wanted, result)

    def _respond(
        self, parsed: InferRequest, wanted: Sequence[RequestedOutput], result: Mapping[str, Array]
    ) -> Response:
        outputs: list[BinaryOutput] = []
        for out in wanted:
            array = result.get(out.name)
            if array is None:
                raise ProtocolError(f"model did not return output '{out.name}'", status=500)
            outputs.append(BinaryOutput(out.name, array, out.binary))
        request_id = parsed.id if parsed.id is not None else uuid.uuid4().hex
        try:
            body, header_length = encode_infer_response(
                self.model.name, self.model.version, request_id, outputs
            )
        except ValueError as exc:
            raise ProtocolError(f"cannot encode the outputs: {exc}", status=500) from exc
        if header_length is None:
            return Response(body=body)
        return Response(
            body=body,
            content_type="application/octet-stream",
            headers=(("Inference-Header-Content-Length", str(header_length)),),
        )

    def _conform(self, parsed: InferRequest) -> dict[str, Array]:
        given = {tensor.name: tensor for tensor in parsed.inputs}
        model = self.model.name
        for name in given:
            if name not in self._input_names:
                expected = ", ".join(self._input_names)
                raise ProtocolError(
                    f"unknown input '{name}' for model '{model}'; it takes {expected}"
                )
        arrays: dict[str, Array] = {}
        for spec in self.model.inputs:
            tensor = given.get(spec.name)
            if tensor is None:
                raise ProtocolError(
                    f"missing input '{spec.name}' ({spec.datatype} {list(spec.shape)}) "
                    f"for model '{model}'"
                )
            arrays[spec.name] = conform(spec, tensor, model)
        if self.batcher.batchable and len({a.shape[0] for a in arrays.values()}) > 1:
            raise ProtocolError(f"inputs of model '{model}' have different numbers of rows")
        return arrays

    def _requested(self, parsed: InferRequest) -> Sequence[RequestedOutput]:
        if parsed.outputs is None:
            return self._defaults[parsed.binary_output]
        for out in parsed.outputs:
            if out.name not in self._output_names:
                known = ", ".join(sorted(self._output_names))
                raise ProtocolError(
                    f"unknown output '{out.name}' for model '{self.model.name}'; known: {known}"
                )
        return parsed.outputs


def build_app(
    model: Model,
    *,
    max_batch_size: int = 32,
    max_batch_delay_ms: float = 0.0,
    workers: int = 1,
    registry: CollectorRegistry | None = None,
    server_name: str = "mlkube",
) -> ReplicaApp:
    """The OIP handler for `model`, with its batcher and metrics; call `close()` when done."""
    metrics = ReplicaMetrics(registry or new_registry(), model.name, model.version)
    batcher = Batcher(
        model.predict,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
        workers=workers,
        batchable=all(spec.shape[:1] == (-1,) for spec in model.inputs),
        on_batch=metrics.observe_batch,
    )
    metrics.queue_length.set_function(lambda: batcher.queue_length)
    return ReplicaApp(model, batcher, metrics, server_name)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m mlkube.serving.replica",
        description="Serve one model over the Open Inference Protocol (KServe v2 REST).",
    )
    p.add_argument("--name", required=True, help="model name in URLs and metadata")
    p.add_argument(
        "--model",
        help=f"model file, or a directory holding one (default: the artifact ${ARTIFACT_URI_ENV})",
    )
    p.add_argument("--format", default="sklearn", help="sklearn, xgboost, onnx or pytorch")
    p.add_argument("--version", default="1", help="model version (default 1)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--ready-file", type=Path, help='where to write {"port": P, "pid": N}')
    p.add_argument("--max-batch-size", type=int, default=32, help="rows per batch")
    p.add_argument("--max-batch-delay-ms", type=float, default=0.0, help="wait for more rows")
    p.add_argument("--threads", type=int, default=1, help="the runtime's intra-op threads")
    p.add_argument("--workers", type=int, default=1, help="batches predicted at once")
    return p.parse_args(argv)


async def _serve(model: Model, args: argparse.Namespace) -> None:
    app = build_app(
        model,
        max_batch_size=args.max_batch_size,
        max_batch_delay_ms=args.max_batch_delay_ms,
        workers=args.workers,
    )
    server = await start_server(app, host=args.host, port=args.port)
    stop = stop_event()
    if args.ready_file is not None:
        write_ready_file(args.ready_file, {"port": server.port, "pid": os.getpid()})
    print(
        f"serving model {model.name} version {model.version} ({model.platform}) "
        f"on {args.host}:{server.port}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    app.ready = False
    await server.close()
    await app.close()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run a replica until SIGTERM; returns the process exit code. `env` (default: the
    process's) names the model artifact to fetch when `--model` is not given."""
    args = _parse_args(argv)
    try:
        path = args.model or model_from_environment(os.environ if env is None else env)
        if path is None:
            raise ModelFetchError(f"give --model PATH, or the artifact in ${ARTIFACT_URI_ENV}")
        model = load_model(
            path, args.format, name=args.name, version=args.version, threads=args.threads
        )
        install_uvloop()
        asyncio.run(_serve(model, args))
    except (ModelLoadError, ModelFetchError, OSError, ValueError) as exc:
        print(f"mlkube replica: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
