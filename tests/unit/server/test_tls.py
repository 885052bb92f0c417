"""The embedded API's private CA and server certificate."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlkube.sdk.config import kubeconfig, parse_kubeconfig
from mlkube.server.tls import ensure_certificates


def test_certificates_are_made_once_and_name_the_hosts(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls", hosts=["10.0.0.7"])
    assert stat.S_IMODE(os.stat(files.server_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "tls" / "ca.key").st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in san} == {"localhost", "127.0.0.1", "::1", "10.0.0.7"}
    ca = x509.load_pem_x509_certificate(files.ca_pem())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    first_cert, first_ca = files.server_cert.read_bytes(), files.ca_pem()
    again = ensure_certificates(tmp_path / "tls", hosts=["10.0.0.7"])
    assert again.server_cert.read_bytes() == first_cert
    files.server_key.chmod(0o644)
    moved = ensure_certificates(tmp_path / "tls", hosts=["mlkube.example"])
    assert moved.server_cert.read_bytes() != first_cert
    assert stat.S_IMODE(os.stat(moved.server_key).st_mode) == 0o600, "a new key is private"
    assert moved.ca_pem() == first_ca  # the CA stays, so configs already written stay valid


def test_a_key_that_does_not_match_its_certificate_is_replaced(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls", hosts=[])
    first_cert = files.server_cert.read_bytes()
    other = ec.generate_private_key(ec.SECP256R1())  # as if a crash split the key and the cert
    files.server_key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    again = ensure_certificates(tmp_path / "tls", hosts=[])
    cert = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    key = serialization.load_pem_private_key(again.server_key.read_bytes(), None)
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)
    assert again.server_cert.read_bytes() != first_cert


def test_the_ca_travels_in_the_kubeconfig() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    config = parse_kubeconfig(kubeconfig(server="https://127.0.0.1:8470", token="t", ca_data=pem))
    assert config.ca_data == pem
    assert parse_kubeconfig(kubeconfig(server="http://x", token="t")).ca_data is None
