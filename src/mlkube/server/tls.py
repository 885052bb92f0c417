"""TLS for the embedded API: a private certificate authority and a server certificate.

`mlkube up` serves HTTPS, as a kube-apiserver does, for two reasons: tokens must not cross a
network in clear, and `kubectl` refuses to send a kubeconfig's token over plain HTTP at all.
The CA is created once per data directory and its certificate goes into the kubeconfig
(`certificate-authority-data`), so clients verify the server without trusting anything else.
Keys are written readable only by their owner.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlkube.sdk.config import write_private_file

_VALID_DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


def ensure_certificates(folder: Path, *, hosts: list[str]) -> TlsFiles:
    """The CA and a server certificate for `hosts` under `folder`, created when missing or when
    the server certificate does not name every host."""
    files = TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key_path = folder / "ca.key"
    if not (files.ca_cert.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        write_private_file(ca_key_path, _key_pem(ca_key))
        files.ca_cert.write_bytes(_ca_cert(ca_key).public_bytes(serialization.Encoding.PEM))
    if not _server_pair_usable(files, hosts):
        ca_key_loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(ca_key_loaded, ec.EllipticCurvePrivateKey)
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_cert(key, ca, ca_key_loaded, hosts)
        write_private_file(files.server_key, _key_pem(key))
        files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _server_pair_usable(files: TlsFiles, hosts: list[str]) -> bool:
    """The server certificate names every host and its key is the one beside it: the two are
    written one after the other, so a crash in between leaves a new key with the old
    certificate, which must be replaced rather than served."""
    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    if not _names_all(files.server_cert, hosts):
        return False
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    try:
        key = serialization.load_pem_private_key(files.server_key.read_bytes(), None)
    except ValueError:
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        key.public_key().public_bytes(encoding, public)
        == cert.public_key().public_bytes(encoding, public)
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=_VALID_DAYS)


def _ca_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlkube-ca")])
    start, end = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", "::1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: list[str],
) -> x509.Certificate:
    start, end = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlkube-apiserver")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def _names_all(cert_path: Path, hosts: list[str]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(n.value) for n in san}
    wanted = {str(n.value) for n in _alt_names(hosts)}
    return wanted <= present
