"""The model a replica serves, fetched when it starts: on a cluster the operator resolves a
`pipelinerun://` model to its run's output artifact and gives the pod its URI and digest.

The pod's environment (see `runtime.kubernetes.serving.model_fetch_env`):

    MLKUBE_MODEL_ARTIFACT_URI     file:///...  or  s3://BUCKET/PREFIX/sha256/ab/cdef...
    MLKUBE_MODEL_ARTIFACT_DIGEST  sha256:<hex>, the artifact's content digest
    MLKUBE_ARTIFACT_STORE         s3://BUCKET[/PREFIX], the store an s3:// artifact is in
                                  (its credentials are in the environment, the AWS way)

An object-store artifact is downloaded through the artifact store (`open_artifact_store`,
into its local cache, digest checked); a `file://` one is read in place, its digest checked
here, so a replica never serves other bytes than the run produced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlkube.storage.artifacts import open_artifact_store

__all__ = [
    "ARTIFACT_DIGEST_ENV",
    "ARTIFACT_STORE_ENV",
    "ARTIFACT_URI_ENV",
    "ModelFetchError",
    "fetch_artifact",
    "model_from_environment",
]

ARTIFACT_URI_ENV = "MLKUBE_MODEL_ARTIFACT_URI"
ARTIFACT_DIGEST_ENV = "MLKUBE_MODEL_ARTIFACT_DIGEST"
ARTIFACT_STORE_ENV = "MLKUBE_ARTIFACT_STORE"
_CHUNK = 1 << 20


class ModelFetchError(Exception):
    """The model artifact cannot be fetched; the message names it and why."""


def model_from_environment(env: Mapping[str, str]) -> Path | None:
    """The local file of the artifact `env` names, fetched; None when it names none."""
    uri = env.get(ARTIFACT_URI_ENV)
    if not uri:
        return None
    digest = env.get(ARTIFACT_DIGEST_ENV)
    if not digest:
        raise ModelFetchError(f"{ARTIFACT_URI_ENV} is set but {ARTIFACT_DIGEST_ENV} is not")
    return fetch_artifact(uri, digest, store_root=env.get(ARTIFACT_STORE_ENV) or None)


def fetch_artifact(
    uri: str,
    digest: str,
    *,
    store_root: str | None,
    options: Mapping[str, Any] | None = None,
) -> Path:
    """A local file with the content of the artifact at `uri`, whose digest is `digest`:
    a `file://` artifact in place, any other through the artifact store at `store_root`
    (`options`: its storage options; default from the environment)."""
    if uri.startswith("file://"):
        path = Path(uri.removeprefix("file://"))
        _check_digest(uri, path, digest)
        return path
    if store_root is None:
        raise ModelFetchError(
            f"model artifact {uri} is in an object store and {ARTIFACT_STORE_ENV} is not set"
        )
    try:
        return open_artifact_store(store_root, options=options).local_path(uri)
    except (OSError, ValueError) as err:
        raise ModelFetchError(f"cannot fetch model artifact {uri}: {err}") from err


def _check_digest(uri: str, path: Path, digest: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or not expected:
        raise ModelFetchError(f"model artifact {uri}: unsupported digest {digest!r}")
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
    except OSError as err:
        raise ModelFetchError(f"cannot read model artifact {uri}: {err}") from err
    if hasher.hexdigest() != expected:
        raise ModelFetchError(
            f"model artifact {uri} hashes to sha256:{hasher.hexdigest()}, not {digest}"
        )
