"""A synchronous client of the mlkube API (Kubernetes REST conventions; kubeconfig credentials).

    client = Client.from_config()                    # ~/.mlkube/config, written by `mlkube up`
    run = client.create(manifest)                    # a dict, or any mlkube.api model
    for event_type, obj in client.watch("pipelineruns", namespace="default"):
        ...

Objects are plain dicts shaped as the server sends them. A refusal from the server raises the
`mlkube.api.errors` class it named (`NotFound`, `Conflict`, `Invalid` with `causes`, ...); a
server that cannot be reached raises `ApiUnreachable`.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import ssl
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from mlkube.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    error_from_status,
)
from mlkube.api.kinds import Kind, by_api_version_kind, lookup
from mlkube.api.meta import Model
from mlkube.sdk.auth import bearer_auth
from mlkube.sdk.config import ClientConfig, load_config
from mlkube.sdk.pod_logs import (
    PodLogTarget,
    choose_pod,
    forbidden,
    label_selector,
    log_params,
    pod_log_path,
    pods_path,
    step_target,
    worker_target,
)
from mlkube.sdk.tls import needs_context, ssl_context

KindRef = str | Kind
Manifest = Mapping[str, Any] | Model
MERGE_PATCH = "application/merge-patch+json"
# Extra seconds a watch waits past its server-side timeout before calling the server silent.
_WATCH_READ_MARGIN = 30.0
_BY_CODE: dict[int, type[ApiError]] = {
    cls.code: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, Invalid)
}
_BY_CODE.update({503: ServiceUnavailable})
# What a kube-apiserver says for a path it serves nothing at (a subresource it lacks).
_UNSERVED_PATH = "the server could not find the requested resource"


class ApiUnreachable(ApiError):
    """No answer from the API server (refused, timed out, cut off); not a server's verdict."""

    code = 0
    reason = "Unreachable"


class ObjectList(list[dict[str, Any]]):
    """The items of a list, and the resource version to start a watch from (to miss nothing)."""

    def __init__(self, items: list[dict[str, Any]], resource_version: str) -> None:
        super().__init__(items)
        self.resource_version = resource_version


class Client:
    """Talks to one mlkube API server. Thread-safe; close it (or use `with`) when done."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        namespace: str = "default",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        ca_data: bytes | None = None,
        auth: httpx.Auth | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """`server` is the base URL (`https://127.0.0.1:8470`); `token` a bearer token (None:
        no credentials, or those of `auth`); `namespace` is the default for namespaced kinds;
        `timeout` bounds each request (watches and followed logs excepted); `ca_data` is the
        PEM of the CA to trust for an HTTPS server (else the system's); `verify` a whole TLS
        context instead (client certificate, CA file, no verification), as `from_config`
        builds from a kubeconfig."""
        self.server = server.rstrip("/")
        self.namespace = namespace
        self._timeout = timeout
        headers = {"Accept": "application/json"}
        if token is not None and auth is None:
            headers["Authorization"] = f"Bearer {token}"
        if verify is None:
            verify = ssl.create_default_context(cadata=ca_data.decode()) if ca_data else None
        self._http = httpx.Client(
            base_url=self.server,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify if verify is not None else True,
            auth=auth,
        )

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None
    ) -> Client:
        """A client for one context (default: the current one) of a kubeconfig (see
        `load_config`): its server, namespace, CA and credentials."""
        return cls.for_config(load_config(path, context=context))

    @classmethod
    def for_config(cls, config: ClientConfig) -> Client:
        """A client for a parsed kubeconfig context. Raises `ConfigError` when its CA or client
        certificate cannot be loaded."""
        return cls(
            config.server,
            namespace=config.namespace,
            auth=bearer_auth(config),
            verify=ssl_context(config) if needs_context(config) else None,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- verbs ------------------------------------------------------------------------------

    def create(self, obj: Manifest) -> dict[str, Any]:
        """Create `obj` (its namespace, else the client's); returns it as stored."""
        body = _as_dict(obj)
        kind = _kind_of(body)
        namespace = self._namespace(kind, body["metadata"].get("namespace"))
        return self._json("POST", self._path(kind, namespace), json=body)

    def get(self, kind: KindRef, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object `name` (namespace: the given one, else the client's)."""
        k = _kind(kind)
        return self._json("GET", self._path(k, self._namespace(k, namespace), name))

    def list(
        self, kind: KindRef, namespace: str | None = None, *, label_selector: str | None = None
    ) -> ObjectList:
        """Objects of `kind` in `namespace`; None lists every namespace. `label_selector` is
        Kubernetes syntax (`team=vision,tier!=dev`)."""
        k = _kind(kind)
        params = {"labelSelector": label_selector} if label_selector else {}
        body = self._json("GET", self._path(k, namespace), params=params)
        return ObjectList(body.get("items") or [], str(body["metadata"].get("resourceVersion", "")))

    def update(self, obj: Manifest) -> dict[str, Any]:
        """Replace `obj` (not its status); a stale `metadata.resourceVersion` raises `Conflict`."""
        return self._put(obj, subresource=None)

    def update_status(self, obj: Manifest) -> dict[str, Any]:
        """Replace only the status of `obj`; same concurrency rule as `update`."""
        return self._put(obj, subresource="status")

    def patch(
        self,
        kind: KindRef,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (`null` deletes a key) to the object or its `status`."""
        k = _kind(kind)
        path = self._path(k, self._namespace(k, namespace), name, subresource)
        content = json.dumps(dict(patch)).encode()
        headers = {"Content-Type": MERGE_PATCH}
        return self._json("PATCH", path, content=content, headers=headers)

    def delete(
        self,
        kind: KindRef,
        name: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Delete the object (only if still at `resource_version`, when given); returns its
        last state, or its state marked for deletion while finalizers run."""
        k = _kind(kind)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        return self._json(
            "DELETE", self._path(k, self._namespace(k, namespace), name), json=options
        )

    def apply(self, obj: Manifest) -> tuple[dict[str, Any], str]:
        """Create `obj`, or replace the existing one (kubectl apply's simple form): returns the
        result and what happened, `created`, `configured` or `unchanged`.

        Labels, annotations, finalizers and owner references the manifest does not mention
        are kept from the stored object; a write that raced with this one is retried.
        """
        body = _as_dict(obj)
        body["metadata"].pop("resourceVersion", None)
        try:
            return self.create(body), "created"
        except AlreadyExists:
            pass
        for _ in range(3):
            with contextlib.suppress(Conflict):
                return self._replace(body)
        return self._replace(body)

    def _replace(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        kind = _kind_of(body)
        current = self.get(kind, body["metadata"]["name"], body["metadata"].get("namespace"))
        meta = {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
        for key in ("labels", "annotations", "finalizers", "ownerReferences"):
            if key not in meta and key in current["metadata"]:
                meta[key] = current["metadata"][key]
        result = self.update({**body, "metadata": meta})
        same = result["metadata"]["resourceVersion"] == meta["resourceVersion"]
        return result, "unchanged" if same else "configured"

    def watch(
        self,
        kind: KindRef,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        label_selector: str | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """`(type, object)` for each change: ADDED, MODIFIED, DELETED.

        Without `resource_version` every current object comes first as ADDED; with one, the
        changes after it. `namespace` None watches every namespace. Ends after
        `timeout_seconds` (None: when the caller stops iterating). A server-side failure
        raises its error, e.g. `Expired` when `resource_version` is too old: list again.
        """
        params: dict[str, str] = {"watch": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if label_selector:
            params["labelSelector"] = label_selector
        read = None if timeout_seconds is None else timeout_seconds + _WATCH_READ_MARGIN
        k = _kind(kind)
        with self._stream(self._path(k, namespace), params, read_timeout=read) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield _watch_event(line)

    def usage_records(self, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """The usage records of finished step attempts (`namespace`; None: every namespace
        the user may list runs in everywhere), as `mlkube usage` adds them up."""
        base = "/apis/mlkube.io/v1alpha1"
        where = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
        items = self._json("GET", f"{base}{where}/usagerecords")["items"]
        return [dict(item) for item in items]

    def logs(
        self,
        run: str,
        *,
        step: str | None = None,
        namespace: str | None = None,
        attempt: int | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """The log of a step attempt (default: the latest) of a pipeline run, as text chunks;
        with `follow`, until that attempt ends. `step` may be omitted for one-step runs.
        From a cluster, the log of the attempt's pod (see `mlkube.sdk.pod_logs`)."""
        query = _log_query(follow, step=step, attempt=attempt, tailLines=tail_lines)
        k = lookup("pipelineruns")
        path = self._path(k, self._namespace(k, namespace), run, "log")
        target = step_target(run, step, attempt)
        yield from self._log_stream(k, namespace, path, query, target, tail_lines=tail_lines)

    def worker_logs(
        self,
        job: str,
        *,
        worker: int = 0,
        namespace: str | None = None,
        start: int | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """The log of one worker of a TrainingJob (default: worker 0) in one start of its gang
        (default: the latest), as text chunks; with `follow`, until that start ends.
        From a cluster, the log of the worker's pod (see `mlkube.sdk.pod_logs`)."""
        query = _log_query(follow, worker=worker, start=start, tailLines=tail_lines)
        k = lookup("trainingjobs")
        path = self._path(k, self._namespace(k, namespace), job, "log")
        target = worker_target(job, worker, start)
        yield from self._log_stream(k, namespace, path, query, target, tail_lines=tail_lines)

    # -- plumbing ---------------------------------------------------------------------------

    def _log_stream(
        self,
        kind: Kind,
        namespace: str | None,
        path: str,
        query: dict[str, str],
        target: PodLogTarget,
        *,
        tail_lines: int | None,
    ) -> Iterator[str]:
        follow = "follow" in query
        try:
            yield from self._text(path, query, follow=follow)
            return
        except NotFound as e:
            if _UNSERVED_PATH not in str(e):
                raise  # the server has logs, not these (no such run, step or attempt)
        # A kube-apiserver's answer for a path it does not serve: a cluster has no `log`
        # subresource for our kinds; the logs are those of the pods that ran the steps.
        ns = self._namespace(kind, namespace) or self.namespace
        pod = self._target_pod(kind, target, ns)
        params = log_params(pod, follow=follow, tail_lines=tail_lines)
        try:
            yield from self._text(pod_log_path(ns, pod), params, follow=follow)
        except Forbidden as err:
            raise forbidden(err, ns) from None

    def _target_pod(self, kind: Kind, target: PodLogTarget, namespace: str) -> dict[str, Any]:
        try:
            found = self._json(
                "GET", pods_path(namespace), params={"labelSelector": label_selector(target)}
            )
        except Forbidden as err:
            raise forbidden(err, namespace) from None
        try:
            return dict(choose_pod(target, found.get("items") or [], namespace))
        except NotFound:
            self.get(kind, target.name, namespace)  # no such run or job: its NotFound says so
            raise

    def _text(self, path: str, query: Mapping[str, str], *, follow: bool) -> Iterator[str]:
        with self._stream(path, query, read_timeout=None if follow else self._timeout) as response:
            for text in response.iter_text():
                if text:
                    yield text

    def _put(self, obj: Manifest, *, subresource: str | None) -> dict[str, Any]:
        body = _as_dict(obj)
        kind = _kind_of(body)
        name = body["metadata"].get("name")
        if not name:
            raise BadRequest("metadata.name is required to update an object")
        path = self._path(
            kind, self._namespace(kind, body["metadata"].get("namespace")), name, subresource
        )
        return self._json("PUT", path, json=body)

    def _namespace(self, kind: Kind, namespace: str | None) -> str | None:
        if not kind.namespaced:
            return None
        return namespace or self.namespace

    def _path(
        self, kind: Kind, namespace: str | None, name: str | None = None, sub: str | None = None
    ) -> str:
        prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace:
            prefix += f"/namespaces/{quote(namespace, safe='')}"
        path = f"{prefix}/{kind.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
        return f"{path}/{sub}" if sub else path

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise self._unreachable(err) from None
        raise_for_status(response)
        body: dict[str, Any] = response.json()
        return body

    @contextlib.contextmanager
    def _stream(
        self, path: str, params: Mapping[str, str], *, read_timeout: float | None
    ) -> Iterator[httpx.Response]:
        timeout = httpx.Timeout(self._timeout, read=read_timeout)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise_for_status(response)
                yield response
        except httpx.TransportError as err:
            raise self._unreachable(err) from None

    def _unreachable(self, err: httpx.TransportError) -> ApiUnreachable:
        if isinstance(err, httpx.ConnectError):
            return ApiUnreachable(
                f'cannot reach the mlkube API at {self.server}: is "mlkube up" running? ({err})'
            )
        if isinstance(err, httpx.TimeoutException):
            return ApiUnreachable(f"the mlkube API at {self.server} did not answer in time ({err})")
        return ApiUnreachable(f"lost the connection to the mlkube API at {self.server}: {err}")


def _log_query(follow: bool, **params: object) -> dict[str, str]:
    """A log request's query: the given parameters, and `follow=true` when following."""
    query = {k: str(v) for k, v in params.items() if v is not None}
    if follow:
        query["follow"] = "true"
    return query


def raise_for_status(response: httpx.Response) -> None:
    """Raise the `ApiError` a non-2xx response carries (rebuilt from its `Status` body)."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        raise error_from_status(body)
    cls = _BY_CODE.get(response.status_code, InternalError)
    raise cls(f"HTTP {response.status_code} from the mlkube API: {response.text[:200]}")


def _watch_event(line: str) -> tuple[str, dict[str, Any]]:
    event = json.loads(line)
    if event.get("type") == "ERROR":
        raise error_from_status(event.get("object") or {})
    return str(event["type"]), event["object"]


def _kind(kind: KindRef) -> Kind:
    return kind if isinstance(kind, Kind) else lookup(kind)


def _kind_of(body: Mapping[str, Any]) -> Kind:
    return by_api_version_kind(str(body.get("apiVersion", "")), str(body.get("kind", "")))


def _as_dict(obj: Manifest) -> dict[str, Any]:
    """A deep copy of the manifest as a dict with a `metadata` mapping."""
    body = obj.to_dict() if isinstance(obj, Model) else json.loads(json.dumps(dict(obj)))
    if not isinstance(body.get("metadata"), dict):
        body["metadata"] = {}
    return body
