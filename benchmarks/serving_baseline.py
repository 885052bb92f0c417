"""An upper bound for benchmarks/serving.py: the least an OIP endpoint can do in Python.

A bare Starlette app on uvicorn (uvloop, httptools): parse the JSON request with orjson, call
the estimator's `predict` in the event loop, write the JSON response. No validation, no
batching, no metrics, no error handling beyond what Starlette does.

    .venv/bin/python benchmarks/serving_baseline.py --model iris.joblib --port 8000
"""

from __future__ import annotations

import argparse
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build_app(model: Any, name: str) -> Starlette:
    """The endpoint `POST /v2/models/{name}/infer` (first input only) and `GET /healthz`."""

    async def infer(request: Request) -> Response:
        body = orjson.loads(await request.body())
        tensor = body["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
        y = np.asarray(model.predict(x))
        output = {"name": "predict", "datatype": "INT64", "shape": list(y.shape)}
        payload = {"model_name": name, "outputs": [{**output, "data": y.tolist()}]}
        return Response(orjson.dumps(payload), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    routes = [
        Route(f"/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/healthz", healthz),
    ]
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a joblib file holding an estimator")
    parser.add_argument("--name", default="iris")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_app(joblib.load(args.model), args.name)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
