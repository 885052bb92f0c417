"""Validating admission webhooks, called by the fake kube-apiserver as a real one calls them.

On a create, update or patch, after the object is validated and before it is stored (dry runs
included, as upstream), every stored ValidatingWebhookConfiguration's webhooks whose `rules`
match the write (operations, apiGroups, apiVersions, resources with `*`, `*/*`, `x/*` and
`*/sub` forms, scope) are POSTed an `admission.k8s.io/v1` AdmissionReview, one after the
other, over HTTPS verified against the webhook's `caBundle` (none: the system's CAs).

Where a webhook is: `clientConfig.url` as it is; `clientConfig.service` through `services`, a
map a test fills from `"NAME.NAMESPACE:PORT"` (port 443 by default) to a base URL such as
`https://127.0.0.1:9443`, since nothing resolves Service names here. The certificate is
still checked against `NAME.NAMESPACE.svc`, the name a kube-apiserver checks.

A denial becomes the Status a kube-apiserver returns: the webhook's code (at least 400),
reason, details and causes, the message prefixed `admission webhook "NAME" denied the
request: `. A webhook that cannot be called (no such Service, refused connection, TLS not
trusted, timeout, an answer that is not a review of this request) fails the write with 500
`Internal error occurred: failed calling webhook "NAME": ...` under `failurePolicy: Fail`
(the default) and is skipped under `Ignore`.

Not done: namespaceSelector, objectSelector and matchConditions (every object matches),
matchPolicy conversion, mutating webhooks, reinvocation; writes to `/scale` are not reviewed.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from mlkube.api.errors import (
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import Served, by_resource

__all__ = ["AdmissionWebhooks", "WebhookCallFailed", "denial", "rule_matches"]

CONFIGURATIONS = by_resource("validatingwebhookconfigurations.admissionregistration.k8s.io")
REVIEW_API_VERSION = "admission.k8s.io/v1"
DEFAULT_TIMEOUT_SECONDS = 10
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
    500: InternalError,
    503: ServiceUnavailable,
}


class WebhookCallFailed(Exception):
    """The webhook gave no usable answer (the reason is the message)."""


class AdmissionWebhooks:
    """The fake kube-apiserver's caller of validating webhooks (see the module docstring)."""

    def __init__(self) -> None:
        self.services: dict[str, str] = {}
        """`"NAME.NAMESPACE:PORT"` → base URL (`https://127.0.0.1:PORT`), set by tests."""

    async def review(
        self,
        store: ResourceStore,
        served: Served,
        *,
        operation: str,
        obj: Mapping[str, Any],
        old: Mapping[str, Any] | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> None:
        """Call every matching webhook; raise the `ApiError` of the first refusal."""
        if served.group == CONFIGURATIONS.group:
            return  # as upstream: webhooks never judge webhook configurations (no lock-out)
        request = _request(served, operation, obj, old, subresource, dry_run)
        for config in store.list(CONFIGURATIONS.resource)[0]:
            for hook in config.get("webhooks") or []:
                rules = hook.get("rules") or []
                if any(rule_matches(r, served, operation, subresource) for r in rules):
                    await self._call(hook, request)

    async def _call(self, hook: Mapping[str, Any], request: dict[str, Any]) -> None:
        name = str(hook.get("name"))
        try:
            response = await self._post(hook, request)
        except WebhookCallFailed as failure:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return
            raise InternalError(
                f'Internal error occurred: failed calling webhook "{name}": {failure}'
            ) from None
        if not response.get("allowed"):
            raise denial(name, response.get("status"))

    async def _post(self, hook: Mapping[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """The webhook's `response`, checked to answer this request."""
        if "v1" not in (hook.get("admissionReviewVersions") or []):
            raise WebhookCallFailed("the webhook does not accept admission.k8s.io/v1 reviews")
        timeout = int(hook.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
        config = hook.get("clientConfig") or {}
        url, server_name = self._where(config)
        review = {"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "request": request}
        extensions = {"sni_hostname": server_name} if server_name else {}
        try:
            async with httpx.AsyncClient(verify=_trust(config), timeout=timeout) as http:
                answer = await http.post(
                    f"{url}?timeout={timeout}s", json=review, extensions=extensions
                )
        except (httpx.HTTPError, ssl.SSLError, OSError) as err:
            raise WebhookCallFailed(f'failed to call webhook: Post "{url}": {err}') from None
        return _checked_response(answer, request["uid"])

    def _where(self, config: Mapping[str, Any]) -> tuple[str, str | None]:
        """The URL to POST to, and the name the certificate must carry when not the URL's."""
        if config.get("url"):
            return str(config["url"]), None
        service = config.get("service") or {}
        name, namespace = service.get("name"), service.get("namespace")
        port = int(service.get("port") or 443)
        base = self.services.get(f"{name}.{namespace}:{port}")
        if base is None:
            raise WebhookCallFailed(
                f'failed to call webhook: Post "https://{name}.{namespace}.svc:{port}": '
                f"dial tcp: lookup {name}.{namespace}.svc: no such host"
            )
        return base.rstrip("/") + str(service.get("path") or "/"), f"{name}.{namespace}.svc"


def rule_matches(
    rule: Mapping[str, Any], served: Served, operation: str, subresource: str | None
) -> bool:
    """Whether a webhook rule covers this write, as the kube-apiserver matches rules."""
    operations = rule.get("operations") or []
    if "*" not in operations and operation not in operations:
        return False
    if not _listed(served.group, rule.get("apiGroups")):
        return False
    if not _listed(served.version, rule.get("apiVersions")):
        return False
    scope = rule.get("scope") or "*"
    if scope != "*" and scope != ("Namespaced" if served.namespaced else "Cluster"):
        return False
    return any(
        _resource_matches(r, served.plural, subresource) for r in rule.get("resources") or []
    )


def _listed(value: str, allowed: Any) -> bool:
    return isinstance(allowed, list) and ("*" in allowed or value in allowed)


def _resource_matches(pattern: str, plural: str, subresource: str | None) -> bool:
    wanted_resource, _, wanted_sub = pattern.partition("/")
    if wanted_resource not in ("*", plural):
        return False
    return wanted_sub in ("*", subresource or "")  # `*/*` covers the main resource too


def _request(
    served: Served,
    operation: str,
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    subresource: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    gvk = {"group": served.group, "version": served.version, "kind": served.kind}
    gvr = {"group": served.group, "version": served.version, "resource": served.plural}
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": meta.get("name") or "",
        "operation": operation,
        "userInfo": {"username": "fake-admin", "groups": ["system:masters"]},
        "object": dict(obj),
        "oldObject": dict(old) if old is not None else None,
        "dryRun": dry_run,
    }
    if served.namespaced:
        request["namespace"] = meta.get("namespace") or ""
    if subresource:
        request["subResource"] = subresource
    return request


def _trust(config: Mapping[str, Any]) -> ssl.SSLContext:
    bundle = config.get("caBundle")
    if not bundle:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=base64.b64decode(bundle).decode())
    except (ValueError, ssl.SSLError) as err:
        raise WebhookCallFailed(f"the caBundle holds no usable certificate: {err}") from None


def _checked_response(answer: httpx.Response, uid: str) -> dict[str, Any]:
    if answer.status_code != 200:
        raise WebhookCallFailed(f"the server responded with status {answer.status_code}")
    try:
        body = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookCallFailed("the answer is not JSON") from None
    response = body.get("response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise WebhookCallFailed("the answer is not an AdmissionReview with a response")
    if response.get("uid") != uid:
        raise WebhookCallFailed(f"expected response.uid={uid}, got {response.get('uid')}")
    return response


def denial(webhook: str, status: Any) -> ApiError:
    """The error a kube-apiserver returns for a webhook's refusal with `status` (a metav1
    `Status`, or nothing): its code, at least 400 (the error class is chosen by the code, so
    the reason is the code's), its details and causes, the message prefixed."""
    status = status if isinstance(status, dict) else {}
    code = max(int(status.get("code") or 400), 400)
    prefix = f'admission webhook "{webhook}" denied the request'
    explanation = status.get("message") or status.get("reason")
    message = f"{prefix}: {explanation}" if explanation else f"{prefix} without explanation"
    details = status.get("details") or {}
    causes = [
        Cause(str(c.get("field", "")), str(c.get("message", "")), str(c.get("reason", "")))
        for c in details.get("causes") or []
    ]
    return _BY_CODE.get(code, BadRequest if code < 500 else InternalError)(
        message,
        kind=str(details.get("kind", "")),
        name=str(details.get("name", "")),
        group=str(details.get("group", "")),
        causes=causes,
    )
