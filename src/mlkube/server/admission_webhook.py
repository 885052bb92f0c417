"""The operator's validating admission webhook: the embedded API's create-time refusals, for
a kube-apiserver that stores our kinds as custom resources.

    webhook = AdmissionWebhookServer(ApiContext(store, admission=checks), tls, port=9443)
    webhook.start()   # HTTPS on a thread; POST /validate with an admission.k8s.io/v1 review
    ...
    webhook.stop()

`review_response` is the whole decision, with no I/O of its own beyond what the checks do:
- CREATE and UPDATE of our `mlkube.io` kinds are judged; anything else (DELETE, CONNECT, a
  subresource, a kind that is not ours) is allowed.
- The object is parsed with our models: a parse error is a denial naming each field, as the
  embedded API's 422 names them (the models check more than a CRD's structural schema can:
  references between steps, cycles, parameters).
- Then the admission checks the embedded API runs (`ApiContext.admit`, the same functions):
  a denial is 422 `Invalid` with its causes, or the check's own error (403 for a quota).
- An UPDATE that leaves `spec` as it was is allowed without judging it: those are metadata
  writes (finalizers, labels, the operator's own bookkeeping), which the embedded API's
  controllers make without admission too, and which must never be stuck on a cluster that
  shrank after the object was admitted.
- A check that fails unexpectedly denies with 500 and its message; the server keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlkube.api.errors import ApiError, BadRequest, InternalError
from mlkube.api.kinds import KINDS, Kind
from mlkube.api.meta import API_GROUP
from mlkube.server.context import ApiContext
from mlkube.server.objects import validated
from mlkube.server.webhook_tls import ServingTls

__all__ = ["AdmissionWebhookServer", "review_response"]

log = logging.getLogger("mlkube.webhook")

REVIEW_API_VERSION = "admission.k8s.io/v1"
JUDGED_OPERATIONS = ("CREATE", "UPDATE")
# A review holds the object and the old one; Kubernetes objects are at most about 1.5 MiB.
MAX_REVIEW_BYTES = 8 * 1024 * 1024


def review_response(review: Any, ctx: ApiContext) -> dict[str, Any]:
    """The AdmissionReview to answer `review` with: allowed, or denied with a `Status` whose
    code, message and causes are the embedded API's. The request's uid is echoed.

    Raises `BadRequest` when `review` is not an `admission.k8s.io/v1` AdmissionReview holding
    a request with a uid (there is nothing to answer then).
    """
    request = _request_of(review)
    denial = _denial(request, ctx)
    response: dict[str, Any] = {"uid": request["uid"], "allowed": denial is None}
    if denial is not None:
        status = denial.to_status()
        response["status"] = {k: v for k, v in status.items() if k not in _TYPE_META}
    return {"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response}


_TYPE_META = ("apiVersion", "kind", "metadata")


def _request_of(review: Any) -> Mapping[str, Any]:
    if not isinstance(review, dict):
        raise BadRequest("the body must be a JSON object (an AdmissionReview)")
    if (review.get("apiVersion"), review.get("kind")) != (REVIEW_API_VERSION, "AdmissionReview"):
        raise BadRequest(f"the body must be an AdmissionReview of {REVIEW_API_VERSION}")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise BadRequest("request.uid: Required value")
    return request


def _denial(request: Mapping[str, Any], ctx: ApiContext) -> ApiError | None:
    """Why the request is refused, or None if it is allowed (see the module docstring)."""
    kind = _judged_kind(request)
    if kind is None:
        return None
    operation = request["operation"]
    obj = request.get("object")
    if operation == "UPDATE" and _spec_unchanged(obj, request.get("oldObject")):
        return None
    try:
        if not isinstance(obj, dict):
            raise BadRequest("request.object: Required value: the object to admit")
        model, _ = validated(kind, obj)
        ctx.admit(kind, model, operation)
    except ApiError as err:
        return err
    except Exception as err:  # one bad check must not take the webhook down
        log.exception("admission check failed for %s %s", operation, kind.resource)
        return InternalError(f"admission check failed: {type(err).__name__}: {err}")
    return None


def _judged_kind(request: Mapping[str, Any]) -> Kind | None:
    """Our kind the request writes, when it is a CREATE or UPDATE of the main resource."""
    if request.get("operation") not in JUDGED_OPERATIONS or request.get("subResource"):
        return None
    gvk = request.get("kind")
    if not isinstance(gvk, dict) or gvk.get("group") != API_GROUP:
        return None
    api_version = f"{gvk.get('group')}/{gvk.get('version')}"
    return next(
        (k for k in KINDS if (k.api_version, k.kind) == (api_version, gvk.get("kind"))), None
    )


def _spec_unchanged(obj: Any, old: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(old, dict):
        return False
    return bool(obj.get("spec") == old.get("spec"))


class AdmissionWebhookServer:
    """`POST /validate` over HTTPS with `tls`, answered by `review_response(review, ctx)`.

    Each connection's TLS handshake happens on its own thread, with the certificate `tls`
    holds at that moment (a certificate rotated on disk is served from the next connection).
    A body that is not an AdmissionReview gets 400 in plain text; any other path 404.
    """

    def __init__(
        self, ctx: ApiContext, tls: ServingTls, *, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        self._server = _TlsHttpServer((host, port), _handler(ctx), tls)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served (the one picked when 0 was asked for)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve on a daemon thread until `stop`."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlkube-webhook", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port. Idempotent."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()


class _TlsHttpServer(ThreadingHTTPServer):
    """Accepts plain sockets and wraps each in TLS on its request thread, so a slow or broken
    handshake holds up only that connection."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ServingTls
    ) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            wrapped = self.tls.context().wrap_socket(request, server_side=True)
        except OSError as err:  # ssl.SSLError included: a client that does not trust us
            log.debug("TLS handshake with %s failed: %s", client_address, err)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("webhook connection from %s failed", client_address, exc_info=True)


def _handler(ctx: ApiContext) -> type[BaseHTTPRequestHandler]:
    class Review(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/validate":
                self._answer(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REVIEW_BYTES:
                self._answer(413, b"review too large\n", "text/plain")
                return
            try:
                answer = review_response(json.loads(self.rfile.read(length)), ctx)
            except (ValueError, BadRequest) as err:
                self._answer(400, f"{err}\n".encode(), "text/plain")
                return
            self._answer(200, json.dumps(answer).encode(), "application/json")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Every write of our kinds is reviewed; the controllers log what matters."""

    return Review
