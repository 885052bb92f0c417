"""Kubeconfig `exec` credential plugins (what EKS, GKE and AKS kubeconfigs use).

The plugin is a command: run it with its args and env, read the `ExecCredential` JSON it prints
on stdout (`client.authentication.k8s.io/v1` or `v1beta1`), use `status.token` until
`status.expirationTimestamp`, then run it again. Only tokens are read: a plugin that returns
a client certificate instead is refused with a clear error.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlkube.api.errors import ApiError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
_TIMEOUT_S = 60.0


class ExecCredentialError(ApiError):
    """An exec plugin is misconfigured, failed, or printed no usable credential."""

    code = 0
    reason = "ExecCredentialError"


@dataclass(frozen=True)
class ExecConfig:
    """One kubeconfig user's `exec` entry."""

    user: str  # the kubeconfig user entry, for messages
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = API_VERSIONS[0]


@dataclass(frozen=True)
class ExecCredential:
    """A token and when it stops being valid (None: never, as far as the plugin says)."""

    token: str
    expires_at: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


def parse_exec(
    entry: Mapping[str, Any], *, user: str, source: str, base_dir: Path | None = None
) -> ExecConfig:
    """The `exec` entry of user `user`. A command with a slash but not absolute is resolved
    against `base_dir` (the kubeconfig's folder), as kubectl does. Raises `ExecCredentialError`."""
    where = f"{source}: user {user!r} exec"
    api_version = str(entry.get("apiVersion") or "")
    if api_version not in API_VERSIONS:
        raise ExecCredentialError(
            f"{where}: apiVersion {api_version!r} is not one of {', '.join(API_VERSIONS)}"
        )
    command = entry.get("command")
    if not isinstance(command, str) or not command:
        raise ExecCredentialError(f"{where}: command is missing")
    if base_dir is not None and os.sep in command and not os.path.isabs(command):
        command = str(base_dir / command)
    args = entry.get("args") or []
    env = entry.get("env") or []
    if not isinstance(args, list) or not isinstance(env, list):
        raise ExecCredentialError(f"{where}: args and env must be lists")
    pairs = []
    for item in env:
        if not isinstance(item, dict) or "name" not in item or "value" not in item:
            raise ExecCredentialError(f"{where}: each env entry needs a name and a value")
        pairs.append((str(item["name"]), str(item["value"])))
    return ExecConfig(user, command, tuple(str(a) for a in args), tuple(pairs), api_version)


def run_exec(config: ExecConfig, *, environ: Mapping[str, str] | None = None) -> ExecCredential:
    """Run the plugin once and read its credential. Raises `ExecCredentialError` when it cannot
    start, exits non-zero (its stderr quoted) or prints no token."""
    env = dict(os.environ if environ is None else environ)
    env.update(config.env)
    # Plugins read the request from here (kubectl sets it); we never ask interactively.
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": config.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    where = f"exec plugin {config.command!r} of user {config.user!r}"
    try:
        done = subprocess.run(
            [config.command, *config.args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExecCredentialError(f"{where} could not run: {e}") from None
    if done.returncode != 0:
        detail = done.stderr.strip()[-500:] or "no output on stderr"
        raise ExecCredentialError(f"{where} exited {done.returncode}: {detail}")
    return parse_exec_credential(done.stdout, where=where)


def parse_exec_credential(text: str, *, where: str = "exec plugin") -> ExecCredential:
    """The token and expiry of an `ExecCredential` document."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExecCredentialError(f"{where} printed no ExecCredential JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise ExecCredentialError(f"{where} printed something other than an ExecCredential")
    status: dict[str, Any] = doc["status"] if isinstance(doc.get("status"), dict) else {}
    token = status.get("token")
    if not isinstance(token, str) or not token:
        got = "a client certificate" if status.get("clientCertificateData") else "no token"
        raise ExecCredentialError(f"{where} returned {got}; mlkube reads only status.token")
    expiry = status.get("expirationTimestamp")
    try:
        expires_at = datetime.fromisoformat(str(expiry).replace("Z", "+00:00")) if expiry else None
    except ValueError:
        raise ExecCredentialError(f"{where}: bad expirationTimestamp {expiry!r}") from None
    return ExecCredential(token, expires_at)
