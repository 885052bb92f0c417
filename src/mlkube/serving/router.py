"""The router process: ``python -m mlkube.serving.router`` (one per embedded platform).

Two listeners:

* the public port (:class:`mlkube.serving.proxy.Router`): ``/serving/{ns}/{name}/...`` or Host
  ``{name}.{ns}.<domain>`` to replicas; its own ``GET /healthz`` and ``GET /metrics``;
* the admin port (:class:`Admin`), every request with ``Authorization: Bearer <token>``, the
  token taken from the ``MLKUBE_ROUTER_TOKEN`` environment variable:

  - ``PUT /routes``  body: the table (see :mod:`mlkube.serving.routetable`); 200 with the table
    as stored, or 400 ``{"error": ...}`` and the previous table stays;
  - ``GET /routes``  the table;
  - ``GET /stats``   ``{"at": t, "services": [{"namespace", "name", "in_flight", "held",
    "requests_total", "concurrency", "rps", "window_s", "revisions": [{"name",
    "requests_total", "endpoints"}]}]}``; ``concurrency`` and ``rps`` are averages since the
    previous ``GET /stats`` (meant for one scraper);
  - ``GET /healthz``.

Once both ports are bound it writes ``{"port": P, "admin_port": A, "pid": N}`` to
``--ready-file`` atomically. SIGTERM/SIGINT: stop accepting, answer held requests with 503, let
in-flight requests finish (at most ``--drain-timeout-s``), exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

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
from mlkube.serving.proxy import Router
from mlkube.serving.routetable import RouteTableError, parse_route_table, route_table_json

__all__ = ["TOKEN_ENV", "Admin", "main", "parse_args", "serve"]

TOKEN_ENV = "MLKUBE_ROUTER_TOKEN"
log = logging.getLogger("mlkube.serving.router")


class Admin:
    """The admin port's handler: the route table and the autoscaler's stats, behind a token."""

    def __init__(self, router: Router, token: str) -> None:
        self._router = router
        self._expected = f"Bearer {token}".encode()

    async def handle(self, req: Request) -> Response:
        """Dispatch one admin request; 401 without the right bearer token."""
        given = req.headers.get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, self._expected):
            return Response(
                status=401,
                body=b'{"error":"missing or wrong bearer token"}',
                headers=(("www-authenticate", "Bearer"),),
            )
        route = (req.method, req.path)
        if route == ("GET", "/routes"):
            return json_response(200, route_table_json(self._router.routes))
        if route == ("PUT", "/routes"):
            return self._put_routes(req.body)
        if route == ("GET", "/stats"):
            return json_response(200, self._router.stats_json())
        if route == ("GET", "/healthz"):
            return json_response(200, {"status": "ok"})
        if req.path in ("/routes", "/stats", "/healthz"):
            return error_response(405, f"{req.method} is not allowed on {req.path}")
        return error_response(404, f"no admin endpoint {req.path}")

    def _put_routes(self, body: bytes) -> Response:
        try:
            specs = parse_route_table(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            return error_response(400, f"route table is not valid JSON: {exc}")
        except RouteTableError as exc:
            return error_response(400, str(exc))
        self._router.set_routes(specs)
        log.info("route table set: %d services", len(specs))
        return json_response(200, route_table_json(specs))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m mlkube.serving.router", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address for both listeners")
    p.add_argument("--port", type=int, default=0, help="public port (0: any free port)")
    p.add_argument("--admin-port", type=int, default=0, help="admin port (0: any free port)")
    p.add_argument("--ready-file", type=Path, help="where to write ports and pid once bound")
    p.add_argument("--upstream-timeout-s", type=float, default=300.0, help="per forwarded request")
    p.add_argument("--drain-timeout-s", type=float, default=10.0, help="on SIGTERM, for in-flight")
    p.add_argument("--max-body-bytes", type=int, default=64 * 2**20)
    return p.parse_args(argv)


async def serve(args: argparse.Namespace, token: str) -> None:
    """Run the router until SIGTERM or SIGINT, then drain and return."""
    router = Router(upstream_timeout_s=args.upstream_timeout_s)
    public = await start_server(
        router.handle, host=args.host, port=args.port, max_body_bytes=args.max_body_bytes
    )
    admin = await start_server(Admin(router, token).handle, host=args.host, port=args.admin_port)
    stop = stop_event()
    if args.ready_file is not None:
        write_ready_file(
            args.ready_file, {"port": public.port, "admin_port": admin.port, "pid": os.getpid()}
        )
    log.info("router listening on %s:%d (admin %d)", args.host, public.port, admin.port)
    await stop.wait()
    log.info("router draining")
    router.begin_shutdown()
    await public.close(timeout=args.drain_timeout_s)
    await admin.close(timeout=1.0)
    await router.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: set {TOKEN_ENV} to the admin bearer token", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    install_uvloop()
    asyncio.run(serve(args, token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
