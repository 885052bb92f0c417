"""The TLS side of a kubeconfig as an `ssl.SSLContext`: which CA to trust, whether to verify
at all, and the client certificate to present."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import certifi

from mlkube.sdk.config import ClientConfig, ConfigError, PemSource, write_private_file


def needs_context(config: ClientConfig) -> bool:
    """False when the defaults (verify against the public CAs, no client certificate) do."""
    return bool(
        config.ca_data or config.ca_file or config.insecure_skip_tls_verify or config.client_cert
    )


def ssl_context(config: ClientConfig) -> ssl.SSLContext:
    """The context for `config`. Raises `ConfigError` when a CA, certificate or key cannot be
    loaded (the message says which)."""
    try:
        if config.ca_data or config.ca_file:
            context = ssl.create_default_context(
                cadata=config.ca_data.decode() if config.ca_data else None,
                cafile=str(config.ca_file) if config.ca_file else None,
            )
        else:
            context = ssl.create_default_context(cafile=certifi.where())
    except ssl.SSLError as e:
        raise ConfigError(f"cannot load the cluster's certificate authority: {e}") from None
    if config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_cert is not None and config.client_key is not None:
        _load_client_cert(context, config.client_cert, config.client_key)
    return context


def _load_client_cert(context: ssl.SSLContext, cert: PemSource, key: PemSource) -> None:
    # `ssl` reads certificates only from files, so inline PEMs go to 0600 files in a 0700
    # folder that is removed as soon as they are loaded: the context keeps them in memory.
    with tempfile.TemporaryDirectory(prefix="mlkube-cert-") as folder:
        cert_file = _as_file(cert, Path(folder) / "client.crt")
        key_file = _as_file(key, Path(folder) / "client.key")
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as e:
            raise ConfigError(f"cannot load the client certificate and key: {e}") from None


def _as_file(source: PemSource, spare: Path) -> Path:
    return source if isinstance(source, Path) else write_private_file(spare, source)
