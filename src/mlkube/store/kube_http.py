"""HTTP plumbing for `KubernetesStore`: resource paths, JSON requests through the official
client's `ApiClient`, and `ApiException` → `mlkube.api.errors` mapping.

Every call goes through `ApiClient.param_serialize` + `call_api`, so authentication, TLS and
proxies are whatever the caller configured on the client; nothing here reads the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from mlkube.api.errors import (
    ApiError,
    BadRequest,
    Expired,
    Invalid,
    ServiceUnavailable,
    error_from_status,
)
from mlkube.api.kinds import KINDS
from mlkube.store.objects import to_json

# (group, version, plural, namespaced); group "" is the core API at /api/v1.
ResourceInfo = tuple[str, str, str, bool]

MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"


def default_resources() -> dict[str, ResourceInfo]:
    """The resources the mlkube API serves, keyed like the store (`Kind.resource`)."""
    return {k.resource: (k.group, k.version, k.plural, k.namespaced) for k in KINDS}


@dataclass(frozen=True)
class Target:
    """Where one resource lives on the server."""

    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """`/api/v1/...` or `/apis/GROUP/VERSION/...`; `namespace` None or "" (or a
        cluster-scoped resource) gives the cluster-wide collection."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [root]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


def error_from_exception(err: ApiException) -> ApiError:
    """The `mlkube.api.errors` exception a server's `Status` body describes."""
    return error_from_response(err.status or 0, str(err.reason or ""), err.body)


def error_from_response(code: int, reason: str, body: str | bytes | None) -> ApiError:
    """The error of a non-2xx answer: its `Status` body, else one built from the code."""
    status: Any = None
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return error_from_status_dict(status)
    message = f"{code} {reason}: {body!r}"
    if code == 410:
        return Expired(message)
    if code in (0, 502, 503, 504):
        return ServiceUnavailable(message)
    return error_from_status({"reason": "", "message": message})


def error_from_status_dict(status: Mapping[str, Any]) -> ApiError:
    """`error_from_status`, with HTTP 410 always `Expired` (a real apiserver may say `Gone`)."""
    if status.get("code") == 410 and status.get("reason") != "Expired":
        return Expired(str(status.get("message", "")))
    return error_from_status(dict(status))


class KubeHttp:
    """JSON requests against one API server through a caller-owned `ApiClient`."""

    def __init__(self, api_client: ApiClient) -> None:
        self._client = api_client

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> dict[str, Any]:
        """Send one request and return the JSON object answered; raises `ApiError`s."""
        response = self.open(method, path, query=query, body=body, content_type=content_type)
        try:
            data = response.data
        finally:
            response.release_conn()
        try:
            parsed: Any = json.loads(data)
        except ValueError as err:
            raise BadRequest(f"the server sent a body that is not JSON: {data[:200]!r}") from err
        if not isinstance(parsed, dict):
            raise BadRequest("the server sent JSON that is not an object")
        return parsed

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float | tuple[float, float] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request and return the unread response (a 2xx); raises `ApiError`s."""
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
            # Refuse what JSON cannot hold (NaN, objects) before anything is sent; the client
            # encodes the body again itself, leniently.
            to_json(body)
        serialized = self._client.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            rest = self._client.call_api(*serialized, _request_timeout=timeout)
        except ApiException as err:
            raise error_from_exception(err) from err
        except HTTPError as err:
            raise ServiceUnavailable(f"cannot reach the API server: {err}") from err
        response = rest.response
        if 200 <= rest.status <= 299:
            return response  # type: ignore[no-any-return]
        error = error_from_response(rest.status, str(rest.reason or ""), response.data)
        response.release_conn()
        # A traceback keeps this frame alive (pytest keeps failures): it must not keep the
        # response, whose socket file would hold the connection open after the pool closed it.
        del response, rest
        raise error


def namespace_of(target: Target, obj: Mapping[str, Any]) -> str | None:
    """The URL namespace for `obj`: None for cluster-scoped kinds."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    if not target.namespaced:
        return None
    if not isinstance(namespace, str) or not namespace:
        raise Invalid(
            f"{target.plural} is invalid: metadata.namespace: Required value: "
            "a namespaced object needs a namespace (a non-empty string)",
            kind=target.plural,
            group=target.group,
        )
    return namespace


def version_of(obj: Mapping[str, Any]) -> int:
    """An object's or a list's `metadata.resourceVersion` as a number (0 when absent)."""
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


def sorted_by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects sorted as the store contract lists them: by (namespace, name)."""
    return sorted(
        items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", ""))
    )
