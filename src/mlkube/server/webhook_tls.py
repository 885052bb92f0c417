"""The webhook's serving certificate, and the caBundle that makes the kube-apiserver trust it.

Two ways to get a certificate, as controller-runtime operators do:
- `shared_self_signed_tls`: a private CA and a certificate for the Service's names
  (`SERVICE.NAMESPACE.svc` and its longer and shorter forms), kept in a Secret of the
  operator's namespace so that every replica serves the SAME certificate (the Service sends
  the kube-apiserver to any of them): the first replica to start makes them and creates the
  Secret, the others (and later restarts) take them from it. The operator writes that CA into
  the ValidatingWebhookConfiguration's `caBundle` (`patch_ca_bundle`), as controller-runtime's
  cert rotator does. (`self_signed_tls` is the same without the Secret, for one process.)
- `cert_dir_tls`: a folder holding `tls.crt` and `tls.key` (a Secret of cert-manager's
  mounted as a volume); the caBundle is then cert-manager's CA injector's business.

`ServingTls` rereads the files when they change on disk, so a certificate cert-manager renews
is served from the next connection on, without a restart.
"""

from __future__ import annotations

import base64
import ssl
import threading
from pathlib import Path
from typing import Any

from mlkube.api.errors import AlreadyExists, Conflict, NotFound
from mlkube.sdk.config import write_private_file
from mlkube.server.tls import ensure_certificates
from mlkube.store.kube_http import MERGE_PATCH, KubeHttp

__all__ = [
    "ServingTls",
    "cert_dir_tls",
    "patch_ca_bundle",
    "self_signed_tls",
    "service_hosts",
    "shared_self_signed_tls",
]

CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
_PATCH_ATTEMPTS = 5


class ServingTls:
    """A server-side TLS context from a certificate and key file, rebuilt when either file's
    modification time changes."""

    def __init__(self, cert: Path, key: Path, *, ca_pem: bytes | None = None) -> None:
        """`ca_pem`: the CA that signed `cert`, when it is ours to publish (self-signed)."""
        self.cert, self.key, self.ca_pem = cert, key, ca_pem
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._context: ssl.SSLContext | None = None
        self.context()  # a missing or broken pair is an error now, not at the first call

    def context(self) -> ssl.SSLContext:
        """The context to wrap the next connection with."""
        with self._lock:
            stamp = (self.cert.stat().st_mtime_ns, self.key.stat().st_mtime_ns)
            if self._context is None or stamp != self._stamp:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.cert, self.key)
                self._context, self._stamp = context, stamp
            return self._context


def service_hosts(service: str, namespace: str) -> list[str]:
    """The names a Service is called by inside the cluster, the one the kube-apiserver uses
    (`SERVICE.NAMESPACE.svc`) among them."""
    short = f"{service}.{namespace}"
    return [service, short, f"{short}.svc", f"{short}.svc.cluster.local"]


def self_signed_tls(folder: Path, *, service: str, namespace: str) -> ServingTls:
    """A new CA and a certificate for the Service's names, written under `folder` (keys
    readable by their owner only); `ca_pem` is the CA for the caBundle."""
    files = ensure_certificates(folder, hosts=service_hosts(service, namespace))
    return ServingTls(files.server_cert, files.server_key, ca_pem=files.ca_pem())


_SECRET_KEYS = {"ca.crt": "ca.crt", "tls.crt": "server.crt", "tls.key": "server.key"}


def shared_self_signed_tls(
    http: KubeHttp, folder: Path, *, service: str, namespace: str, secret: str
) -> ServingTls:
    """The certificate every replica serves: from the `kubernetes.io/tls` Secret `secret` in
    `namespace` when it exists, else made now (`self_signed_tls`) and stored there. Two
    replicas starting at once both make one; the create of one of them loses (409), and it
    takes the winner's. Files go under `folder`; raises the server's `ApiError` when the
    Secret can be neither read nor created (RBAC)."""
    path = f"/api/v1/namespaces/{namespace}/secrets/{secret}"
    try:
        return _from_secret(http.request("GET", path), folder)
    except NotFound:
        pass
    made = self_signed_tls(folder / "made", service=service, namespace=namespace)
    data = {
        key: base64.b64encode((folder / "made" / name).read_bytes()).decode()
        for key, name in _SECRET_KEYS.items()
    }
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": data,
    }
    try:
        http.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)
    except AlreadyExists:
        return _from_secret(http.request("GET", path), folder)
    return made


def _from_secret(secret: dict[str, Any], folder: Path) -> ServingTls:
    data = secret.get("data") or {}
    missing = [key for key in _SECRET_KEYS if key not in data]
    if missing:
        name = secret.get("metadata", {}).get("name")
        raise ValueError(f"Secret {name}: no {', '.join(missing)}; delete it to have it remade")
    shared = folder / "shared"
    shared.mkdir(parents=True, exist_ok=True, mode=0o700)
    for key, name in _SECRET_KEYS.items():
        write_private_file(shared / name, base64.b64decode(data[key]))
    ca_pem = (shared / "ca.crt").read_bytes()
    return ServingTls(shared / "server.crt", shared / "server.key", ca_pem=ca_pem)


def cert_dir_tls(folder: Path) -> ServingTls:
    """The certificate cert-manager mounts: `tls.crt` (with its chain) and `tls.key`.
    Raises `ValueError` naming what is missing."""
    missing = [name for name in ("tls.crt", "tls.key") if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"--webhook-cert-dir {folder}: no {' or '.join(missing)} there")
    return ServingTls(folder / "tls.crt", folder / "tls.key")


def patch_ca_bundle(http: KubeHttp, configuration: str, ca_pem: bytes) -> bool:
    """Set `caBundle` to `ca_pem` on every webhook of the ValidatingWebhookConfiguration named
    `configuration`, with its resourceVersion as the precondition (retried on a conflict).
    Returns whether anything changed; raises the server's `ApiError` (NotFound when it is
    not installed, Forbidden without the RBAC to patch it)."""
    bundle = base64.b64encode(ca_pem).decode()
    path = f"{CONFIGURATIONS}/{configuration}"
    for _ in range(_PATCH_ATTEMPTS):
        current = http.request("GET", path)
        webhooks = [_with_bundle(w, bundle) for w in current.get("webhooks") or []]
        if webhooks == (current.get("webhooks") or []):
            return False
        version = current["metadata"]["resourceVersion"]
        patch = {"metadata": {"resourceVersion": version}, "webhooks": webhooks}
        try:
            http.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
        except Conflict:
            continue  # changed meanwhile (an apply, cert-manager): read it again
        return True
    raise Conflict(f"{path}: kept changing while its caBundle was written", name=configuration)


def _with_bundle(webhook: dict[str, Any], bundle: str) -> dict[str, Any]:
    client_config = {**(webhook.get("clientConfig") or {}), "caBundle": bundle}
    return {**webhook, "clientConfig": client_config}
