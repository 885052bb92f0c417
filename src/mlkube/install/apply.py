"""Applying the install manifests to a cluster, as `kubectl apply` would, through the official
client.

    with kube_client(kubeconfig=None, context=None) as api:    # the user's kubeconfig
        for line in apply_objects(api, install_manifests(image=...)):
            print(line)      # customresourcedefinition.apiextensions.k8s.io/x.mlkube.io created

Each object is created when it does not exist, else patched with a strategic merge patch of
the manifest (what `kubectl apply` sends): fields set elsewhere (server defaults, a replica
count changed by hand) stay, fields the manifest names are set. A field removed from a later
manifest is NOT removed from the cluster (kubectl prunes through its last-applied annotation;
we keep none). The outcome is read from the resource version, as the API server leaves it
unchanged on a write that changes nothing: `created`, `configured` or `unchanged`.

CRDs are applied first and waited for until Established, so the operator that follows finds
its kinds served. Which URL a kind lives at is learnt from the server's discovery documents.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

__all__ = ["ApplyError", "KubeconfigError", "apply_objects", "kube_client"]

CRD_KIND = "CustomResourceDefinition"
STRATEGIC = "application/strategic-merge-patch+json"
ESTABLISHED_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.1


class KubeconfigError(Exception):
    """The kubeconfig cannot be read or does not name a usable context."""


class ApplyError(Exception):
    """The cluster refused an object or could not be reached; names the object."""


def kube_client(*, kubeconfig: str | None, context: str | None) -> ApiClient:
    """A client for the cluster the kubeconfig's context points at (`kubeconfig` None: the
    `KUBECONFIG` variable or `~/.kube/config`, as kubectl). Raises `KubeconfigError`."""
    if kubeconfig is not None and not os.path.isfile(kubeconfig):
        raise KubeconfigError(f"cannot use {kubeconfig}: no such file")
    try:
        api: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (ConfigException, OSError, ValueError, TypeError, AttributeError) as err:
        # The client raises plain Python errors for a file that is not a kubeconfig at all.
        where = kubeconfig or "the default kubeconfig"
        raise KubeconfigError(f"cannot use {where}: {err}") from err
    return api


@dataclass(frozen=True)
class _Resource:
    path: str  # the collection's URL without a namespace: /api/v1 or /apis/GROUP/VERSION
    plural: str
    namespaced: bool


def apply_objects(
    api: ApiClient,
    objs: list[dict[str, Any]],
    *,
    established_timeout: float = ESTABLISHED_TIMEOUT_SECONDS,
) -> Iterator[str]:
    """Apply `objs` in order, CRDs first; yields one kubectl-style line per object as it is
    applied. Raises `ApplyError` (objects before it stay applied, as with kubectl)."""
    applier = _Applier(api)
    crds = [o for o in objs if o.get("kind") == CRD_KIND]
    for obj in crds:
        yield applier.apply(obj)
    for obj in crds:
        applier.wait_established(obj["metadata"]["name"], timeout=established_timeout)
    for obj in objs:
        if obj.get("kind") != CRD_KIND:
            yield applier.apply(obj)


class _Applier:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._discovered: dict[str, list[dict[str, Any]]] = {}

    def apply(self, obj: Mapping[str, Any]) -> str:
        resource = self._resource(str(obj["apiVersion"]), str(obj["kind"]))
        meta = obj["metadata"]
        base = resource.path
        if resource.namespaced:
            base += f"/namespaces/{meta['namespace']}"
        collection = f"{base}/{resource.plural}"
        item = f"{collection}/{meta['name']}"
        body = {k: v for k, v in obj.items() if k != "status"}
        label = f"{_qualified_kind(obj)}/{meta['name']}"
        before = self._request("GET", item, label=label, missing_ok=True)
        if before is None:
            self._request("POST", collection, body=body, label=label)
            return f"{label} created"
        after = self._request("PATCH", item, body=body, label=label, content_type=STRATEGIC)
        assert after is not None
        same = _version(after) == _version(before)
        return f"{label} {'unchanged' if same else 'configured'}"

    def wait_established(self, name: str, *, timeout: float) -> None:
        """Until the CRD's Established condition is True (the server serves its kind)."""
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        label = f"customresourcedefinition.apiextensions.k8s.io/{name}"
        deadline = time.monotonic() + timeout
        while True:
            crd = self._request("GET", path, label=label) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                return
            if time.monotonic() >= deadline:
                raise ApplyError(f"{label}: not Established after {timeout:g}s")
            time.sleep(_POLL_SECONDS)

    def _resource(self, api_version: str, kind: str) -> _Resource:
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        if path not in self._discovered:
            found = self._request("GET", path, label=f"the API {api_version}", missing_ok=True)
            self._discovered[path] = (found or {}).get("resources") or []
        for entry in self._discovered[path]:
            if entry.get("kind") == kind and "/" not in str(entry.get("name")):
                return _Resource(path, str(entry["name"]), bool(entry.get("namespaced")))
        raise ApplyError(f'the server does not serve kind "{kind}" in "{api_version}"')

    def _request(
        self,
        method: str,
        path: str,
        *,
        label: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self._api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = self._api.call_api(*serialized)
            data = response.read()  # type: ignore[no-untyped-call]
        except ApiException as err:
            if missing_ok and err.status == 404:
                return None
            raise ApplyError(f"{label}: {_reason(err.status, err.body or err.reason)}") from err
        except HTTPError as err:
            raise ApplyError(f"cannot reach the API server: {err}") from err
        if missing_ok and response.status == 404:
            return None
        if not 200 <= response.status <= 299:
            raise ApplyError(f"{label}: {_reason(response.status, data)}")
        parsed: dict[str, Any] = json.loads(data)
        return parsed


def _reason(status: int | None, body: Any) -> str:
    """The message of a `Status` body, or the status code and the start of the body."""
    try:
        message = json.loads(body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {status}: {str(body)[:200]}"


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion"))


def _qualified_kind(obj: Mapping[str, Any]) -> str:
    """`deployment.apps`, `namespace`: how kubectl names an object's kind in its output."""
    api_version = str(obj["apiVersion"])
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    kind = str(obj["kind"]).lower()
    return f"{kind}.{group}" if group else kind
