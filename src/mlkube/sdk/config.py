"""The client config: a kubeconfig file (server URL, bearer token, default namespace).

`mlkube up` writes it; `Client.from_config` and the CLI read it. It is a real kubeconfig
(`apiVersion: v1`, `kind: Config`, clusters/users/contexts/current-context), so `kubectl
--kubeconfig ~/.mlkube/config` can use it as well.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlkube.api.errors import ApiError

ENV_VAR = "MLKUBE_CONFIG"
DEFAULT_PATH = Path("~/.mlkube/config")
CONTEXT_NAME = "mlkube"


class ConfigError(ApiError):
    """The client config is missing or malformed; the message says which file and why.

    An `ApiError` (code 0: no server was asked) so that callers handling API failures show
    it the same way.
    """

    code = 0
    reason = "ConfigError"


@dataclass(frozen=True)
class ClientConfig:
    """Where the API is and how to talk to it."""

    server: str
    token: str
    namespace: str = "default"
    ca_data: bytes | None = None  # PEM of the CA that signed the server's certificate


def config_path(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The config file to use: `path`, else `$MLKUBE_CONFIG`, else `$MLKUBE_HOME/config`,
    else `~/.mlkube/config` (where `mlkube up` writes it)."""
    env = os.environ if environ is None else environ
    home = env.get("MLKUBE_HOME")
    chosen = path or env.get(ENV_VAR) or (Path(home) / "config" if home else DEFAULT_PATH)
    return Path(chosen).expanduser()


def load_config(
    path: str | os.PathLike[str] | None = None, *, context: str | None = None
) -> ClientConfig:
    """Read the client config (see `config_path`) using `context` or its current-context.

    Raises `ConfigError` when the file is missing (with how to create it) or malformed.
    """
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f'no mlkube config at {file}: run "mlkube up" first or set {ENV_VAR}'
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"mlkube config {file} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mlkube config {file} must be a kubeconfig mapping")
    return parse_kubeconfig(data, context=context, source=str(file))


def parse_kubeconfig(
    data: Mapping[str, Any], *, context: str | None = None, source: str = "config"
) -> ClientConfig:
    """The server, token and namespace of one context of a parsed kubeconfig."""
    contexts = _named(data, "contexts", "context", source)
    chosen = (
        context
        or data.get("current-context")
        or (next(iter(contexts)) if len(contexts) == 1 else "")
    )
    if chosen not in contexts:
        raise ConfigError(
            f"{source}: no context {chosen!r} (contexts: {', '.join(contexts) or 'none'})"
        )
    ctx = contexts[chosen]
    cluster = _named(data, "clusters", "cluster", source).get(str(ctx.get("cluster")))
    user = _named(data, "users", "user", source).get(str(ctx.get("user")))
    if not cluster or not cluster.get("server"):
        raise ConfigError(f"{source}: context {chosen!r} names no cluster with a server URL")
    if not user or not user.get("token"):
        raise ConfigError(f"{source}: context {chosen!r} names no user with a token")
    ca = cluster.get("certificate-authority-data")
    try:
        ca_data = base64.b64decode(str(ca), validate=True) if ca else None
    except ValueError:
        raise ConfigError(f"{source}: certificate-authority-data is not base64") from None
    return ClientConfig(
        server=str(cluster["server"]),
        token=str(user["token"]),
        namespace=str(ctx.get("namespace") or "default"),
        ca_data=ca_data,
    )


def _named(data: Mapping[str, Any], key: str, inner: str, source: str) -> dict[str, dict[str, Any]]:
    """`[{name: x, inner: {...}}]` → `{x: {...}}`."""
    entries = data.get(key) or []
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {key} must be a list")
    table: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get(inner), dict):
            table[str(entry.get("name", ""))] = entry[inner]
    return table


def kubeconfig(
    *, server: str, token: str, namespace: str = "default", ca_data: bytes | None = None
) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all named `mlkube`."""
    cluster: dict[str, str] = {"server": server}
    if ca_data is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT_NAME, "cluster": cluster}],
        "users": [{"name": CONTEXT_NAME, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }


def write_config(
    path: str | os.PathLike[str],
    *,
    server: str,
    token: str,
    namespace: str = "default",
    ca_data: bytes | None = None,
) -> Path:
    """Write a kubeconfig for `server` and `token`, replacing any file there atomically.

    The file holds a credential, so it is created with mode 0600 (never readable by others,
    not even for a moment); missing parent folders are created with mode 0700.
    """
    text = yaml.safe_dump(
        kubeconfig(server=server, token=token, namespace=namespace, ca_data=ca_data),
        sort_keys=False,
    )
    return write_private_file(Path(path).expanduser(), text)


def write_private_file(path: Path, data: str | bytes) -> Path:
    """Atomically write `data` (text as UTF-8) to `path` as a file only its owner can read
    (0600), replacing any file there whatever its mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 itself; os.replace then swaps it in whole.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
