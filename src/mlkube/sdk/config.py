"""The client config: a kubeconfig file (server, credentials, default namespace).

`mlkube up` writes one with a bearer token; `Client.from_config` and the CLI read it. It is a
real kubeconfig (`apiVersion: v1`, `kind: Config`, clusters/users/contexts/current-context), so
`kubectl --kubeconfig ~/.mlkube/config` can use it, and the CLI reads the kubeconfig of a real
cluster as kubectl does: a token, a `tokenFile`, a client certificate and key (inline `-data` or
file paths, relative ones against the kubeconfig's folder), an `exec` credential plugin, or no
credentials at all; the CA as data or a file; `insecure-skip-tls-verify`. `auth-provider`
plugins and basic auth are refused with an error naming the user entry.

Which file, first match wins:

1. the path given (`--config` / `--kubeconfig` on the CLI);
2. `$MLKUBE_CONFIG`;
3. `$MLKUBE_HOME/config`;
4. `~/.mlkube/config` when that file exists (what `mlkube up` wrote);
5. the first file of `$KUBECONFIG` (a colon-separated list; the others are not merged);
6. `~/.mlkube/config` (missing: the error says to run `mlkube up`).

Why `~/.mlkube/config` comes before `$KUBECONFIG` when it exists: Kubernetes users often keep
`$KUBECONFIG` pointed at a real cluster, and after `mlkube up` they expect `mlkube get` to show
the local platform, not to act on that cluster behind their back. To talk to a cluster, pass
`--kubeconfig` (or set `$MLKUBE_CONFIG`); with no `mlkube up` config, `$KUBECONFIG` is used.
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
from mlkube.sdk.exec_credentials import ExecConfig, ExecCredentialError, parse_exec

ENV_VAR = "MLKUBE_CONFIG"
KUBECONFIG_ENV_VAR = "KUBECONFIG"
DEFAULT_PATH = Path("~/.mlkube/config")
CONTEXT_NAME = "mlkube"

# A PEM given inline (decoded `-data`) or the path of a file holding it.
PemSource = bytes | Path


class ConfigError(ApiError):
    """The client config is missing or malformed; the message says which file and why.

    An `ApiError` (code 0: no server was asked) so that callers handling API failures show
    it the same way.
    """

    code = 0
    reason = "ConfigError"


@dataclass(frozen=True)
class ClientConfig:
    """Where the API is and how to talk to it. No token, token file, client certificate or
    exec plugin: the server needs no credentials."""

    server: str
    token: str | None = None
    namespace: str = "default"
    ca_data: bytes | None = None  # PEM of the CA that signed the server's certificate
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    token_file: Path | None = None
    client_cert: PemSource | None = None
    client_key: PemSource | None = None
    exec: ExecConfig | None = None


def config_path(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The config file to use (the order is in the module docstring). `environ` (default:
    the process's) supplies the variables and `HOME`."""
    env = os.environ if environ is None else environ
    home = env.get("MLKUBE_HOME")
    default = (Path(env["HOME"]) / ".mlkube" / "config") if env.get("HOME") else DEFAULT_PATH
    default = default.expanduser()
    kubeconfig_first = next((p for p in env.get(KUBECONFIG_ENV_VAR, "").split(os.pathsep) if p), "")
    chosen = (
        path
        or env.get(ENV_VAR)
        or (Path(home) / "config" if home else None)
        or (default if default.exists() else None)
        or kubeconfig_first
        or default
    )
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
    return parse_kubeconfig(data, context=context, source=str(file), base_dir=file.parent)


def parse_kubeconfig(
    data: Mapping[str, Any],
    *,
    context: str | None = None,
    source: str = "config",
    base_dir: Path | None = None,
) -> ClientConfig:
    """The server, credentials and namespace of one context of a parsed kubeconfig. Relative
    file paths in it are resolved against `base_dir` (the kubeconfig's folder), and every file
    it names must exist. Raises `ConfigError` naming the entry at fault."""
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
    if not cluster or not cluster.get("server"):
        raise ConfigError(f"{source}: context {chosen!r} names no cluster with a server URL")
    user_name = str(ctx.get("user") or "")
    users = _named(data, "users", "user", source)
    if user_name and user_name not in users:
        raise ConfigError(
            f"{source}: context {chosen!r} names no user with a token or other credentials: "
            f"user {user_name!r} is not in users"
        )
    files = _Files(source, base_dir)
    return ClientConfig(
        server=str(cluster["server"]),
        namespace=str(ctx.get("namespace") or "default"),
        **_cluster_settings(cluster, files),
        **_user_settings(users.get(user_name) or {}, user_name, files),
    )


class _Files:
    """Resolves and checks the files a kubeconfig names, and decodes its `-data` fields."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir

    def path(self, value: object, field: str, entry: str) -> Path:
        path = Path(str(value)).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        if not path.is_file():
            raise ConfigError(f"{self.source}: {entry} {field}: no file at {path}")
        return path

    def data(self, value: object, field: str, entry: str) -> bytes:
        try:
            return base64.b64decode(str(value), validate=True)
        except ValueError:
            raise ConfigError(f"{self.source}: {entry} {field} is not base64") from None

    def pem(self, entry_data: Mapping[str, Any], key: str, entry: str) -> PemSource | None:
        """`key-data` (wins, as in kubectl) or the file at `key`."""
        if entry_data.get(f"{key}-data"):
            return self.data(entry_data[f"{key}-data"], f"{key}-data", entry)
        if entry_data.get(key):
            return self.path(entry_data[key], key, entry)
        return None


def _cluster_settings(cluster: Mapping[str, Any], files: _Files) -> dict[str, Any]:
    ca_data = ca_file = None
    if cluster.get("certificate-authority-data"):
        # Kept word for word: tests and users know this message.
        try:
            ca_data = base64.b64decode(str(cluster["certificate-authority-data"]), validate=True)
        except ValueError:
            raise ConfigError(f"{files.source}: certificate-authority-data is not base64") from None
    elif cluster.get("certificate-authority"):
        ca_file = files.path(cluster["certificate-authority"], "certificate-authority", "cluster")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise ConfigError(f"{files.source}: cluster insecure-skip-tls-verify must be true or false")
    return {"ca_data": ca_data, "ca_file": ca_file, "insecure_skip_tls_verify": insecure}


def _user_settings(user: Mapping[str, Any], name: str, files: _Files) -> dict[str, Any]:
    entry = f"user {name!r}"
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise ConfigError(
            f"{files.source}: {entry} uses the auth-provider plugin {provider!r}, which mlkube "
            "does not support; use an exec credential plugin, a token or a client certificate"
        )
    if user.get("username") or user.get("password"):
        raise ConfigError(
            f"{files.source}: {entry} uses basic auth (username/password), which mlkube does "
            "not support; use a token, a client certificate or an exec plugin"
        )
    cert = files.pem(user, "client-certificate", entry)
    key = files.pem(user, "client-key", entry)
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise ConfigError(f"{files.source}: {entry} has no {missing} (-data or file) to pair")
    token = str(user["token"]) if user.get("token") else None
    token_file = None
    if token is None and user.get("tokenFile"):
        token_file = files.path(user["tokenFile"], "tokenFile", entry)
    exec_config = None
    if user.get("exec"):
        if not isinstance(user["exec"], dict):
            raise ConfigError(f"{files.source}: {entry} exec must be a mapping")
        try:
            exec_config = parse_exec(
                user["exec"], user=name, source=files.source, base_dir=files.base_dir
            )
        except ExecCredentialError as e:
            raise ConfigError(str(e)) from None
    return {
        "token": token,
        "token_file": token_file,
        "client_cert": cert,
        "client_key": key,
        "exec": exec_config,
    }


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
