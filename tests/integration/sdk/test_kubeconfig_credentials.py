"""The client presents what a kubeconfig gives it, to real servers on loopback: a client
certificate to a TLS server that requires one, and an exec plugin's token (a real script),
run again when it has expired or the server refuses it."""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import json
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlkube.api.errors import Unauthorized
from mlkube.sdk.client import ApiUnreachable, Client
from mlkube.sdk.config import ConfigError
from mlkube.sdk.exec_credentials import ExecCredentialError

# -- certificates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def issue(common_name: str, *, by: Issued | None = None, usage: Any = None) -> Issued:
    """A certificate for `common_name`: a self-signed CA when `by` is None, else signed by it
    for `usage` (server or client auth)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(by.cert.subject if by else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=by is None, path_length=None), critical=True)
    )
    if by is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    cert = builder.sign(by.key if by else key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem, cert, key)


# -- servers -------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers GET /api/v1/namespaces/NAME with a Namespace whose labels say who asked: the
    client certificate's common name, or the bearer token. 401 unless the token is accepted."""

    accepted_tokens: frozenset[str] | None = None  # None: no token needed

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.accepted_tokens is not None and token not in self.accepted_tokens:
            self._send(
                401,
                {"kind": "Status", "code": 401, "reason": "Unauthorized", "message": "bad token"},
            )
            return
        der = (
            self.connection.getpeercert(binary_form=True)
            if isinstance(self.connection, ssl.SSLSocket)
            else None
        )
        names = x509.load_der_x509_certificate(der).subject if der else x509.Name([])
        common_names = names.get_attributes_for_oid(NameOID.COMMON_NAME)
        labels = {"cn": str(common_names[0].value) if common_names else "", "token": token}
        name = self.path.rsplit("/", 1)[-1]
        self._send(
            200,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
        )

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    folder: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = issue("test-ca")
    pki = Pki(
        ca,
        issue("localhost", by=ca, usage=ExtendedKeyUsageOID.SERVER_AUTH),
        issue("alice", by=ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH),
        tmp_path / "pki",
    )
    pki.folder.mkdir()
    for name, data in {
        "ca.crt": ca.cert_pem,
        "server.crt": pki.server.cert_pem,
        "server.key": pki.server.key_pem,
        "alice.crt": pki.client.cert_pem,
        "alice.key": pki.client.key_pem,
    }.items():
        (pki.folder / name).write_bytes(data)
    return pki


@contextlib.contextmanager
def serve(handler: type[Handler], context: ssl.SSLContext | None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.folder / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(pki.folder / "server.crt", pki.folder / "server.key")
    with serve(Handler, context) as url:
        yield url


def write_kubeconfig(path: Path, server: str, user: dict[str, Any], **cluster: Any) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- client certificates -------------------------------------------------------------------


def test_a_client_certificate_from_files_relative_to_the_kubeconfig(
    pki: Pki, mtls_server: str
) -> None:
    config = write_kubeconfig(
        pki.folder / "kubeconfig",
        mtls_server,
        {"client-certificate": "alice.crt", "client-key": "alice.key"},
        **{"certificate-authority": "ca.crt"},
    )
    with Client.from_config(config) as client:
        assert client.get("namespaces", "ns-a")["metadata"]["labels"]["cn"] == "alice"


def test_inline_certificate_data_leaves_no_file_behind(
    pki: Pki, mtls_server: str, tmp_path: Path
) -> None:
    config = write_kubeconfig(
        tmp_path / "kubeconfig",
        mtls_server,
        {
            "client-certificate-data": b64(pki.client.cert_pem),
            "client-key-data": b64(pki.client.key_pem),
        },
        **{"certificate-authority-data": b64(pki.ca.cert_pem)},
    )
    with Client.from_config(config) as client:
        assert client.get("namespaces", "ns-b")["metadata"]["labels"]["cn"] == "alice"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig", "pki"]


def test_without_a_client_certificate_the_server_refuses_the_handshake(
    pki: Pki, mtls_server: str
) -> None:
    config = write_kubeconfig(
        pki.folder / "kubeconfig", mtls_server, {}, **{"certificate-authority": "ca.crt"}
    )
    with Client.from_config(config) as client, pytest.raises(ApiUnreachable):
        client.get("namespaces", "ns-c")


def test_an_unknown_ca_fails_unless_verification_is_switched_off(
    pki: Pki, mtls_server: str
) -> None:
    user = {"client-certificate": "alice.crt", "client-key": "alice.key"}
    strict = write_kubeconfig(pki.folder / "strict", mtls_server, user)
    with Client.from_config(strict) as client, pytest.raises(ApiUnreachable):
        client.get("namespaces", "ns-d")
    lax = write_kubeconfig(
        pki.folder / "lax", mtls_server, user, **{"insecure-skip-tls-verify": True}
    )
    with Client.from_config(lax) as client:
        assert client.get("namespaces", "ns-d")["metadata"]["labels"]["cn"] == "alice"


def test_a_key_that_is_not_a_key_is_a_config_error(pki: Pki, mtls_server: str) -> None:
    config = write_kubeconfig(
        pki.folder / "kubeconfig",
        mtls_server,
        {"client-certificate": "alice.crt", "client-key": "ca.crt"},
    )
    with pytest.raises(ConfigError, match="cannot load the client certificate and key"):
        Client.from_config(config)


# -- tokens: file and exec plugin ----------------------------------------------------------

PLUGIN = """\
import json, os, sys
from pathlib import Path
runs = Path(sys.argv[1])
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
status = {"token": f"{os.environ['TOKEN_PREFIX']}-{n}"}
if os.environ.get("EXPIRES"):
    status["expirationTimestamp"] = os.environ["EXPIRES"]
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}))
"""


def token_server(accepted: set[str]) -> contextlib.AbstractContextManager[str]:
    handler = type("TokenHandler", (Handler,), {"accepted_tokens": frozenset(accepted)})
    return serve(handler, None)


def exec_kubeconfig(tmp_path: Path, server: str, api_version: str, expires: str = "") -> Path:
    (tmp_path / "plugin.py").write_text(PLUGIN)
    env = [{"name": "TOKEN_PREFIX", "value": "tok"}, {"name": "EXPIRES", "value": expires}]
    user = {
        "exec": {
            "apiVersion": api_version,
            "command": sys.executable,
            "args": [str(tmp_path / "plugin.py"), str(tmp_path / "runs")],
            "env": env,
        }
    }
    return write_kubeconfig(tmp_path / "kubeconfig", server, user)


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


@pytest.mark.parametrize(
    "api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
)
def test_an_exec_token_is_cached_until_it_expires(tmp_path: Path, api_version: str) -> None:
    with token_server({"tok-1"}) as server:
        later = "2999-01-01T00:00:00Z"
        with Client.from_config(exec_kubeconfig(tmp_path, server, api_version, later)) as client:
            for _ in range(3):
                assert client.get("namespaces", "a")["metadata"]["labels"]["token"] == "tok-1"
        assert runs(tmp_path) == 1


def test_an_expired_exec_token_is_fetched_again(tmp_path: Path) -> None:
    with token_server({"tok-1", "tok-2"}) as server:
        past = "2000-01-01T00:00:00Z"
        config = exec_kubeconfig(tmp_path, server, "client.authentication.k8s.io/v1", past)
        with Client.from_config(config) as client:
            tokens = [client.get("namespaces", "a")["metadata"]["labels"]["token"] for _ in "ab"]
        assert tokens == ["tok-1", "tok-2"]


def test_a_refused_exec_token_is_fetched_again_once(tmp_path: Path) -> None:
    with token_server({"tok-2"}) as server:
        config = exec_kubeconfig(tmp_path, server, "client.authentication.k8s.io/v1")
        with Client.from_config(config) as client:
            assert client.get("namespaces", "a")["metadata"]["labels"]["token"] == "tok-2"
            assert runs(tmp_path) == 2
            assert client.get("namespaces", "a")["metadata"]["labels"]["token"] == "tok-2"
            assert runs(tmp_path) == 2, "an accepted token is kept"
    with token_server({"never"}) as server:
        (tmp_path / "runs").unlink()
        config = exec_kubeconfig(tmp_path, server, "client.authentication.k8s.io/v1")
        with Client.from_config(config) as client, pytest.raises(Unauthorized):
            client.get("namespaces", "a")
        assert runs(tmp_path) == 2, "one retry, not a loop"


def test_a_failing_plugin_is_a_clear_error(tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", "import sys; sys.exit('no credentials for cluster prod')"],
        }
    }
    with token_server({"x"}) as server:
        config = write_kubeconfig(tmp_path / "k", server, user)
        with (
            Client.from_config(config) as client,
            pytest.raises(ExecCredentialError, match="exited 1: no credentials for cluster prod"),
        ):
            client.get("namespaces", "a")


def test_a_token_file_is_read_again_after_a_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old\n")
    with token_server({"new"}) as server:
        config = write_kubeconfig(tmp_path / "kubeconfig", server, {"tokenFile": "token"})
        with Client.from_config(config) as client:
            with pytest.raises(Unauthorized):
                client.get("namespaces", "a")
            token.write_text("new\n")  # rotated, as projected service-account tokens are
            assert client.get("namespaces", "a")["metadata"]["labels"]["token"] == "new"


def test_a_server_that_needs_no_credentials_gets_none(tmp_path: Path) -> None:
    with (
        serve(Handler, None) as server,
        Client.from_config(write_kubeconfig(tmp_path / "k", server, {})) as client,
    ):
        assert client.get("namespaces", "a")["metadata"]["labels"]["token"] == ""
