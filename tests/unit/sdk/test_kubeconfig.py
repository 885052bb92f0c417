"""Reading a kubeconfig as kubectl does: each kind of credential, relative paths, which file,
and a clear error naming the entry when something is missing or unsupported."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from mlkube.sdk.config import ClientConfig, ConfigError, config_path, parse_kubeconfig
from mlkube.sdk.exec_credentials import (
    ExecCredentialError,
    parse_exec_credential,
)

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
B64 = base64.b64encode(PEM).decode()


def doc(user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    return {
        "clusters": [{"name": "c", "cluster": {"server": "https://k:6443", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("ca.crt", "client.crt", "client.key", "token"):
        (tmp_path / name).write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("user", "cluster", "expected"),
    [
        ({}, {}, {}),
        ({"token": "t"}, {}, {"token": "t"}),
        ({"tokenFile": "token"}, {}, {"token_file": "token"}),
        ({"token": "t", "tokenFile": "token"}, {}, {"token": "t"}),  # the token wins
        (
            {"client-certificate": "client.crt", "client-key": "client.key"},
            {"certificate-authority": "ca.crt"},
            {"client_cert": "client.crt", "client_key": "client.key", "ca_file": "ca.crt"},
        ),
        (
            {"client-certificate-data": B64, "client-key-data": B64},
            {"certificate-authority-data": B64},
            {"client_cert": PEM, "client_key": PEM, "ca_data": PEM},
        ),
        (
            # Inline data wins over a file, as in kubectl.
            {
                "client-certificate-data": B64,
                "client-certificate": "gone.crt",
                "client-key-data": B64,
            },
            {},
            {"client_cert": PEM, "client_key": PEM},
        ),
        ({}, {"insecure-skip-tls-verify": True}, {"insecure_skip_tls_verify": True}),
    ],
    ids=[
        "no-auth",
        "token",
        "token-file",
        "token-over-file",
        "cert-files",
        "cert-data",
        "data-over-file",
        "insecure",
    ],
)
def test_each_kind_of_credential_is_read(
    folder: Path, user: dict[str, Any], cluster: dict[str, Any], expected: dict[str, Any]
) -> None:
    config = parse_kubeconfig(doc(user, **cluster), base_dir=folder)
    # Relative paths are resolved against the kubeconfig's folder.
    fields: dict[str, Any] = {
        k: folder / v if isinstance(v, str) and k != "token" else v for k, v in expected.items()
    }
    assert config == ClientConfig(server="https://k:6443", **fields)


def test_an_absolute_path_is_kept(folder: Path) -> None:
    config = parse_kubeconfig(
        doc({"tokenFile": str(folder / "token")}), base_dir=Path("/elsewhere")
    )
    assert config.token_file == folder / "token"


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        ({"tokenFile": "missing"}, {}, r"user 'u' tokenFile: no file at .*/missing"),
        ({"client-certificate": "client.crt"}, {}, "user 'u' has no client-key"),
        ({"client-key-data": B64}, {}, "user 'u' has no client-certificate"),
        (
            {"client-certificate-data": "%%", "client-key-data": B64},
            {},
            "client-certificate-data is not base64",
        ),
        ({}, {"certificate-authority": "nope.crt"}, "cluster certificate-authority: no file at"),
        ({}, {"certificate-authority-data": "%%"}, "certificate-authority-data is not base64"),
        ({}, {"insecure-skip-tls-verify": "yes"}, "insecure-skip-tls-verify must be true or false"),
        ({"auth-provider": {"name": "gcp"}}, {}, "user 'u' uses the auth-provider plugin 'gcp'"),
        ({"username": "a", "password": "b"}, {}, "user 'u' uses basic auth"),
        ({"exec": {"command": "x"}}, {}, "user 'u' exec: apiVersion '' is not one of"),
        (
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1"}},
            {},
            "user 'u' exec: command is missing",
        ),
        (
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "x",
                    "env": [{"name": "A"}],
                }
            },
            {},
            "each env entry needs a name and a value",
        ),
    ],
)
def test_missing_or_unsupported_pieces_are_clear_errors(
    folder: Path, user: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_kubeconfig(doc(user, **cluster), base_dir=folder)


def test_exec_entries_are_read_with_a_relative_command_resolved(folder: Path) -> None:
    entry = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "./bin/get-token",
        "args": ["--cluster", "a"],
        "env": [{"name": "REGION", "value": "eu"}],
    }
    got = parse_kubeconfig(doc({"exec": entry}), base_dir=folder).exec
    assert got is not None
    assert (got.command, got.args, got.env, got.user) == (
        str(folder / "./bin/get-token"),
        ("--cluster", "a"),
        (("REGION", "eu"),),
        "u",
    )
    entry["command"] = "aws"  # no slash: looked up on PATH when run, as kubectl does
    bare = parse_kubeconfig(doc({"exec": entry}), base_dir=folder).exec
    assert bare is not None and bare.command == "aws"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "printed no ExecCredential JSON"),
        ('{"kind": "Other"}', "something other than an ExecCredential"),
        ('{"kind": "ExecCredential", "status": {}}', "returned no token"),
        (
            '{"kind": "ExecCredential", "status": {"clientCertificateData": "x"}}',
            "returned a client certificate; mlkube reads only status.token",
        ),
        (
            '{"kind": "ExecCredential", "status": {"token": "t", "expirationTimestamp": "soon"}}',
            "bad expirationTimestamp 'soon'",
        ),
    ],
)
def test_bad_exec_credentials_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ExecCredentialError, match=message):
        parse_exec_credential(text)


def test_an_exec_credential_gives_its_token_and_expiry() -> None:
    got = parse_exec_credential(
        '{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1",'
        ' "status": {"token": "t", "expirationTimestamp": "2030-01-02T03:04:05Z"}}'
    )
    assert got.token == "t"
    assert got.expires_at is not None and got.expires_at.isoformat() == "2030-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("given", "env", "mlkube_config_exists", "expected"),
    [
        ("/flag", {"MLKUBE_CONFIG": "/m", "KUBECONFIG": "/k"}, True, "/flag"),
        (None, {"MLKUBE_CONFIG": "/m", "KUBECONFIG": "/k"}, True, "/m"),
        (None, {"MLKUBE_HOME": "/h", "KUBECONFIG": "/k"}, True, "/h/config"),
        # After `mlkube up`, its config wins over a KUBECONFIG left pointing at a cluster.
        (None, {"KUBECONFIG": "/k"}, True, "HOME/.mlkube/config"),
        (None, {"KUBECONFIG": "/k1:/k2"}, False, "/k1"),
        (None, {"KUBECONFIG": ":/k2"}, False, "/k2"),
        (None, {}, False, "HOME/.mlkube/config"),
    ],
)
def test_which_file_is_read(
    tmp_path: Path,
    given: str | None,
    env: dict[str, str],
    mlkube_config_exists: bool,
    expected: str,
) -> None:
    if mlkube_config_exists:
        (tmp_path / ".mlkube").mkdir()
        (tmp_path / ".mlkube" / "config").write_text("")
    chosen = config_path(given, environ={**env, "HOME": str(tmp_path)})
    assert chosen == Path(expected.replace("HOME", str(tmp_path)))
