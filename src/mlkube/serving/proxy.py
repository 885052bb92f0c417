"""The router's data plane: resolve the service, pick revision and replica, forward, activate.

:class:`Router` is the public-port handler of the ``python -m mlkube.serving.router`` process.
Per request it does two dict lookups, a weighted pick, a least-outstanding scan and one pooled
upstream round trip; bodies are forwarded as raw bytes and never parsed.

Failure contract:

* unknown service -> 404; the router's own ``/healthz`` and ``/metrics`` when no service matches
* a replica that fails before answering (refused, reset) is set aside for ``FAIL_BACKOFF_S`` and
  the request is retried once on another replica of the same revision; none left -> 503
* a replica that fails mid-response -> 502 (the request may have run; it is not retried)
* a revision with no replicas holds the request (the activator) until a route update gives it
  replicas or the service's ``activation_timeout_s`` passes -> 503
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from mlkube.serving.balancer import EndpointState, SmoothWeighted, pick_endpoint
from mlkube.serving.http import Request, Response, error_response
from mlkube.serving.metrics import CONTENT_TYPE, LATENCY_BUCKETS, new_registry, render
from mlkube.serving.routetable import ServiceSpec, split_service_host, split_service_path
from mlkube.serving.stats import ServiceStats
from mlkube.serving.upstream import HOP_BY_HOP, UpstreamError, UpstreamPool, UpstreamResponse

__all__ = ["FAIL_BACKOFF_S", "Router"]

FAIL_BACKOFF_S = 1.0  # long enough to stop hammering a dead replica, short enough to recover


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Revision:
    __slots__ = ("endpoints", "name")

    def __init__(self, name: str, endpoints: list[tuple[str, EndpointState]]) -> None:
        self.name = name
        self.endpoints = endpoints


class _Service:
    __slots__ = ("chooser", "key", "latency", "revisions", "spec", "stats")

    def __init__(
        self, spec: ServiceSpec, revisions: list[_Revision], stats: ServiceStats, latency: Histogram
    ) -> None:
        self.spec = spec
        self.key = spec.key
        self.revisions = revisions
        self.chooser = SmoothWeighted([r.percent for r in spec.revisions])
        self.stats = stats
        self.latency = latency  # this service's child of the latency histogram

    def pick(self) -> _Revision:
        return self.revisions[self.chooser.pick()]


class Router:
    """Routes requests to replicas by the current table; see the module docstring.

    ``clock`` is a monotonic clock in seconds; ``rng`` breaks ties between replicas.
    """

    def __init__(
        self,
        *,
        upstream_timeout_s: float | None = 300.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._upstream_timeout_s = upstream_timeout_s
        self._specs: tuple[ServiceSpec, ...] = ()
        self._services: dict[tuple[str, str], _Service] = {}
        self._stats: dict[tuple[str, str], ServiceStats] = {}
        self._endpoints: dict[tuple[str, int], EndpointState] = {}
        self._changed: asyncio.Future[None] | None = None  # resolved by the next table update
        self._closing = False
        self.registry = new_registry()
        self._requests = Counter(
            "mlkube_router_requests",
            "Requests answered, by service, revision and status code.",
            ["namespace", "service", "revision", "code"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "mlkube_router_request_duration_seconds",
            "Time from request parsed to response ready, including activation holds.",
            ["namespace", "service"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, str, int], Counter] = {}
        self.registry.register(_Gauges(self))

    # -- route table ------------------------------------------------------------------------
    @property
    def routes(self) -> tuple[ServiceSpec, ...]:
        """The current table, as last set."""
        return self._specs

    def set_routes(self, specs: tuple[ServiceSpec, ...]) -> None:
        """Replace the whole (already validated) table and wake every held request."""
        now = self._clock()
        services: dict[tuple[str, str], _Service] = {}
        for spec in specs:
            revisions = [
                _Revision(r.name, [(e.id, self._endpoint(e.host, e.port)) for e in r.endpoints])
                for r in spec.revisions
            ]
            stats = self._stats.get(spec.key) or ServiceStats(now)
            latency = self._latency.labels(spec.namespace, spec.name)
            services[spec.key] = _Service(spec, revisions, stats, latency)
        self._specs, self._services = specs, services
        self._stats = {
            k: s for k, s in self._stats.items() if k in services or s.in_flight or s.held
        }
        self._stats.update((k, s.stats) for k, s in services.items())
        self._forget_endpoints()
        self._wake()

    def _endpoint(self, host: str, port: int) -> EndpointState:
        ep = self._endpoints.get((host, port))
        if ep is None:
            pool = UpstreamPool(host, port, timeout=self._upstream_timeout_s)
            ep = self._endpoints[(host, port)] = EndpointState(host, port, pool)
        return ep

    def _forget_endpoints(self) -> None:
        used = {(e.host, e.port) for s in self._specs for r in s.revisions for e in r.endpoints}
        for key, ep in list(self._endpoints.items()):
            if key not in used and ep.outstanding == 0:
                del self._endpoints[key]
                if ep.pool is not None:
                    asyncio.get_running_loop().create_task(ep.pool.close())

    def _wake(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    # -- public handler ---------------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        """The public port's handler: forward to a replica, or answer ourselves."""
        target = req.path
        hit = split_service_path(req.path)
        if hit is not None:
            key: tuple[str, str] | None = (hit[0], hit[1])
            target = hit[2]
        else:
            key = split_service_host(req.headers.get("host", ""))
        svc = self._services.get(key) if key is not None else None
        if svc is None:
            return self._own(req, key, via_path=hit is not None)
        if req.query:
            target = f"{target}?{req.query}"
        return await self._serve(svc, req, target)

    def _own(self, req: Request, key: tuple[str, str] | None, *, via_path: bool) -> Response:
        if not via_path and req.method in ("GET", "HEAD"):
            if req.path == "/healthz":
                return Response(body=b'{"status":"ok"}')
            if req.path == "/metrics":
                return Response(body=render(self.registry), content_type=CONTENT_TYPE)
        if key is not None:
            return error_response(404, f"no InferenceService {key[0]}/{key[1]}")
        return error_response(
            404,
            f"no InferenceService for {req.path}: use /serving/{{namespace}}/{{name}}/... "
            "or a Host of {name}.{namespace}.<domain>",
        )

    async def _serve(self, svc: _Service, req: Request, target: str) -> Response:
        stats = svc.stats
        start = self._clock()
        stats.started(start)
        revision = ""
        resp: Response | None = None
        try:
            resp, revision = await self._forward(svc, req, target)
            return resp
        finally:
            end = self._clock()
            stats.finished(end, revision or None)
            svc.latency.observe(end - start)
            self._count(svc.key, revision, resp.status if resp is not None else 500)

    def _count(self, key: tuple[str, str], revision: str, code: int) -> None:
        ckey = (key[0], key[1], revision, code)
        counter = self._counters.get(ckey)
        if counter is None:
            counter = self._counters[ckey] = self._requests.labels(*ckey[:3], str(code))
        counter.inc()

    async def _forward(self, svc: _Service, req: Request, target: str) -> tuple[Response, str]:
        rev = svc.pick()
        if not rev.endpoints:
            try:
                rev = await self._activate(svc, rev)
            except _Reject as exc:
                return error_response(exc.status, str(exc)), rev.name
        ns, name = svc.key
        failed: EndpointState | None = None
        error = f"no replica of {ns}/{name} is reachable"
        for _ in range(2):  # the least-loaded replica, then once more on another one
            index = pick_endpoint(rev.endpoints, self._clock(), self._rng, exclude=failed)
            if index is None:
                break
            ep_id, ep = rev.endpoints[index]
            try:
                upstream = await self._send(ep, req, target)
            except UpstreamError as exc:
                if not exc.before_response:
                    message = f"replica {ep_id} of {ns}/{name} failed: {exc}"
                    return error_response(502, message), rev.name
                ep.failed_until = self._clock() + FAIL_BACKOFF_S
                failed = ep
                error = f"replica {ep_id} of {ns}/{name} is unreachable: {exc}"
                continue
            return _relay(upstream, rev.name, ep_id), rev.name
        return error_response(503, error), rev.name

    async def _send(self, ep: EndpointState, req: Request, target: str) -> UpstreamResponse:
        assert ep.pool is not None
        ep.outstanding += 1
        try:
            return await ep.pool.request(req.method, target, req.headers.items(), req.body)
        finally:
            ep.outstanding -= 1

    async def _activate(self, svc: _Service, rev: _Revision) -> _Revision:
        """Hold until the service has a revision with replicas; raise _Reject on timeout."""
        (ns, name), timeout = svc.key, svc.spec.activation_timeout_s
        deadline = self._clock() + timeout
        svc.stats.hold()
        try:
            while not rev.endpoints:
                remaining = deadline - self._clock()
                if self._closing:
                    raise _Reject(503, f"router is shutting down; {ns}/{name} had no replica")
                if remaining <= 0:
                    raise _Reject(
                        503, f"no replica of {ns}/{name} became ready within {timeout:g}s"
                    )
                if self._changed is None:
                    self._changed = asyncio.get_running_loop().create_future()
                await asyncio.wait((self._changed,), timeout=remaining)
                current = self._services.get(svc.key)
                if current is None:
                    raise _Reject(404, f"no InferenceService {ns}/{name}")
                rev = current.pick()
            return rev
        finally:
            svc.stats.release()

    # -- admin views ------------------------------------------------------------------------
    def stats_json(self) -> dict[str, object]:
        """One scrape: counters now, plus averages since the previous scrape (one scraper)."""
        now = self._clock()
        services = []
        for svc in self._services.values():
            stats = svc.stats
            window = stats.window.scrape(now)
            services.append(
                {
                    "namespace": svc.key[0],
                    "name": svc.key[1],
                    "in_flight": stats.in_flight,
                    "held": stats.held,
                    "requests_total": stats.requests_total,
                    "concurrency": window.concurrency,
                    "rps": window.rps,
                    "window_s": window.elapsed,
                    "revisions": [
                        {
                            "name": r.name,
                            "requests_total": stats.revision_totals.get(r.name, 0),
                            "endpoints": len(r.endpoints),
                        }
                        for r in svc.revisions
                    ],
                }
            )
        return {"at": now, "services": services}

    async def close(self) -> None:
        """Answer held requests with 503 and close every upstream pool."""
        self._closing = True
        self._wake()
        for ep in self._endpoints.values():
            if ep.pool is not None:
                await ep.pool.close()

    def begin_shutdown(self) -> None:
        """Release held requests (they get 503) so a draining server can finish quickly."""
        self._closing = True
        self._wake()

    def gauges(self) -> Iterable[Metric]:
        """The in-flight, held and endpoint gauges, read from live state at scrape time."""
        in_flight = GaugeMetricFamily(
            "mlkube_router_in_flight",
            "Requests being forwarded now.",
            labels=["namespace", "service"],
        )
        held = GaugeMetricFamily(
            "mlkube_router_held_requests",
            "Requests held by the activator, waiting for a replica.",
            labels=["namespace", "service"],
        )
        endpoints = GaugeMetricFamily(
            "mlkube_router_endpoints",
            "Replicas in the route table.",
            labels=["namespace", "service", "revision"],
        )
        for (ns, name), svc in self._services.items():
            in_flight.add_metric([ns, name], svc.stats.in_flight)
            held.add_metric([ns, name], svc.stats.held)
            for rev in svc.revisions:
                endpoints.add_metric([ns, name, rev.name], len(rev.endpoints))
        return (in_flight, held, endpoints)


class _Gauges:
    """Adapts Router.gauges to prometheus_client's collector protocol (no hot-path updates)."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def collect(self) -> Iterable[Metric]:
        return self._router.gauges()


def _relay(up: UpstreamResponse, revision: str, replica: str) -> Response:
    headers: list[tuple[str, str]] = []
    content_type = ""
    for name, value in up.headers:
        low = name.lower()
        if low in HOP_BY_HOP:
            continue
        if low == "content-type":
            content_type = value
        else:
            headers.append((name, value))
    headers.append(("x-mlkube-revision", revision))
    headers.append(("x-mlkube-replica", replica))
    return Response(up.status, up.body, content_type, tuple(headers))
