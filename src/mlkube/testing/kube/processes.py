"""The fake kubelet's container runtime: a pod's first container as a local process.

Images are ignored: the container's `command` + `args` run on this machine, with this
machine's Python (`python`/`python3` as the first word means the running interpreter) and
this environment plus the container's `env`, in a scratch folder per pod, stdout and stderr
going to one log file. The process leads its own process group, so stopping a pod signals
everything it started.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Lookup = Callable[[str, str, str], Mapping[str, Any] | None]
"""`(resource, namespace, name)` → the stored object or None (for configMap/secret refs)."""

_ANNOTATION_REF = re.compile(r"^metadata\.(annotations|labels)\['(.+)'\]$")
_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class StartError(Exception):
    """The container cannot be started; the message says why (shown in its status)."""


@dataclass
class Process:
    """One running container process."""

    popen: subprocess.Popen[bytes]
    log: Path

    def exit_code(self) -> int | None:
        """The exit code once it has exited (128 + signal for a signal), else None."""
        code = self.popen.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the whole process group; a group already gone is not an error."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


def start(
    pod: Mapping[str, Any], folder: Path, *, lookup: Lookup, base_env: Mapping[str, str]
) -> Process:
    """Run `pod`'s first container in `folder` (created), logging to `folder/log`."""
    container = pod["spec"]["containers"][0]
    env = {**base_env, **container_env(pod, container, lookup)}
    words = [
        _expand(w, env) for w in [*(container.get("command") or []), *(container.get("args") or [])]
    ]
    if not container.get("command"):
        raise StartError(
            "the fake kubelet runs no images: the container needs a `command` "
            f"(image {container.get('image', '')!r} was not run)"
        )
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log"
    with log.open("ab") as out:
        try:
            popen = subprocess.Popen(
                words,
                cwd=container.get("workingDir") or folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            raise StartError(f"failed to start {words[0]!r}: {err.strerror or err}") from None
    return Process(popen, log)


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], lookup: Lookup
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: `envFrom` (every key of a
    ConfigMap or Secret, with its `prefix`), then `env` (plain values with `$(VAR)`
    expanded, `fieldRef`, `configMapKeyRef` and `secretKeyRef`), over `HOSTNAME`."""
    meta, spec = pod["metadata"], pod["spec"]
    env: dict[str, str] = {"HOSTNAME": spec.get("hostname") or meta["name"]}
    for source in container.get("envFrom") or []:
        env.update(_env_from(meta.get("namespace", ""), source, lookup))
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = _expand(str(var["value"]), env)
        elif var.get("valueFrom"):
            value = _value_from(pod, var["valueFrom"], lookup)
            if value is not None:
                env[var["name"]] = value
    return env


def _env_from(namespace: str, source: Mapping[str, Any], lookup: Lookup) -> dict[str, str]:
    """The variables one `envFrom` entry gives: a missing object gives none (a real kubelet
    waits for it unless `optional`; the pods we make always name one that exists)."""
    prefix = str(source.get("prefix") or "")
    for key, resource in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
        if key in source:
            obj = lookup(resource, namespace, source[key].get("name", "")) or {}
            data = obj.get("data") or {}
            if resource == "secrets":
                return {prefix + k: base64.b64decode(v).decode() for k, v in data.items()}
            return {prefix + k: str(v) for k, v in data.items()}
    return {}


def _value_from(pod: Mapping[str, Any], source: Mapping[str, Any], lookup: Lookup) -> str | None:
    namespace = pod["metadata"].get("namespace", "")
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"].get("fieldPath", ""))
    for key, resource in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        if key in source:
            ref = source[key]
            obj = lookup(resource, namespace, ref.get("name", "")) or {}
            if resource == "secrets":
                raw = (obj.get("data") or {}).get(ref.get("key", ""))
                return None if raw is None else base64.b64decode(raw).decode()
            value = (obj.get("data") or {}).get(ref.get("key", ""))
            return None if value is None else str(value)
    return None


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The downward API: what `fieldRef.fieldPath` gives inside the pod."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    match = _ANNOTATION_REF.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    return ""


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion; an unknown variable stays as written."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(0)), text)
