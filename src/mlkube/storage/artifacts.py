"""Content-addressed artifact stores: local disk, or an object store (S3) through fsspec.

An artifact is stored once under `sha256/ab/cdef...` whatever produced it, so identical outputs of
cached or repeated steps cost no extra space and a reference (URI + digest) stays valid
forever. `LocalArtifactStore` keeps artifacts as files (`file://` URIs), written to a temporary
file renamed into place, so a crash never leaves a half artifact under its final name.
`ObjectArtifactStore` keeps them in an `ObjectStore` (`s3://` URIs on S3) and downloads an
artifact a step reads once, into a local cache folder.

Only the standard library is imported here (fsspec is imported when an `s3://` store is
opened): this module is imported by every step process and must cost nothing to import.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlkube.storage.objectstore import ObjectStore, open_object_store, split_uri

_CHUNK = 1 << 20
_ALGO = "sha256"


@dataclass(frozen=True)
class StoredArtifact:
    uri: str
    digest: str
    size: int
    format: str
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "digest": self.digest,
            "size": self.size,
            "format": self.format,
            "type": self.type,
        }


class ArtifactStore(Protocol):
    """Where a step's artifacts live; every method is safe to call from many processes."""

    def put_object(self, value: Any) -> StoredArtifact:
        """Pickle `value` (protocol 5) and store it; returns its reference."""
        ...

    def put_file(self, source: str | os.PathLike[str]) -> StoredArtifact:
        """Store a copy of the file at `source` (left in place); returns its reference."""
        ...

    def local_path(self, uri: str) -> Path:
        """A local file holding the artifact at `uri` (downloaded first if remote).

        Raises `ValueError` for a URI outside this store, `FileNotFoundError` naming the URI
        when the artifact is missing."""
        ...

    def load_object(self, uri: str) -> Any:
        """Unpickle an artifact written by `put_object`."""
        ...


def open_artifact_store(root: str, *, options: Mapping[str, Any] | None = None) -> ArtifactStore:
    """The artifact store at `root`: a plain path or `file:///abs` gives a
    `LocalArtifactStore`; `s3://BUCKET[/PREFIX]` an `ObjectArtifactStore` (see
    `open_object_store` for `options` and errors)."""
    scheme, path = split_uri(root, field="root")
    if scheme == "file" and not options:
        return LocalArtifactStore(path)
    return ObjectArtifactStore(open_object_store(root, options=options))


class LocalArtifactStore:
    """Artifacts as files under `root`; URIs are `file://` paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        return self.root.joinpath(*digest_key(digest).split("/"))

    def put_object(self, value: Any) -> StoredArtifact:
        """Pickle `value` (protocol 5) and store it; returns its reference."""
        with tempfile.NamedTemporaryFile(dir=self._tmp_dir(), delete=False) as tmp:
            pickle.dump(value, tmp, protocol=5)
        return self._commit(Path(tmp.name), fmt="pickle", type_name=_type_name(value))

    def put_file(self, source: str | os.PathLike[str]) -> StoredArtifact:
        """Copy a file into the store (the source is left in place)."""
        with (
            tempfile.NamedTemporaryFile(dir=self._tmp_dir(), delete=False) as tmp,
            open(source, "rb") as src,
        ):
            shutil.copyfileobj(src, tmp, _CHUNK)
        return self._commit(Path(tmp.name), fmt="file", type_name="file")

    def local_path(self, uri: str) -> Path:
        """The file behind a `file://` URI of this store."""
        if not uri.startswith("file://"):
            raise ValueError(
                f"artifact {uri!r} is not on local disk, and this artifact store is the local "
                f"folder {self.root}: open the store the artifact was written to"
            )
        return Path(uri.removeprefix("file://"))

    def load_object(self, uri: str) -> Any:
        """Unpickle an artifact written by `put_object`."""
        with open(self.local_path(uri), "rb") as handle:
            return pickle.load(handle)

    def _tmp_dir(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def _commit(self, tmp: Path, *, fmt: str, type_name: str) -> StoredArtifact:
        with open(tmp, "rb") as handle:
            digest, size = _sha256(handle)
        final = self.path_for(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink()
        else:
            os.replace(tmp, final)
        return StoredArtifact(f"file://{final}", digest, size, fmt, type_name)


class ObjectArtifactStore:
    """Artifacts as objects under `sha256/ab/cdef...` in `store`; URIs are `store.url(key)`.

    An artifact already in the store is not uploaded again. `local_path` downloads an
    artifact once into `cache_dir` (default `$TMPDIR/mlkube-artifacts`), checks its digest,
    and serves later calls from there; objects written by `put_object` start out cached.
    """

    def __init__(self, store: ObjectStore, *, cache_dir: Path | None = None) -> None:
        self.store = store
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "mlkube-artifacts"
        self._base = store.url(_ALGO)[: -len(_ALGO)]

    def put_object(self, value: Any) -> StoredArtifact:
        """Pickle `value` (protocol 5), upload it unless present; it stays in the cache."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.cache_dir, delete=False, suffix=".tmp") as tmp:
            pickle.dump(value, tmp, protocol=5)
        try:
            stored = self._upload(Path(tmp.name), fmt="pickle", type_name=_type_name(value))
            cached = self._cached(stored.digest)
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp.name, cached)
        finally:
            _discard(Path(tmp.name))
        return stored

    def put_file(self, source: str | os.PathLike[str]) -> StoredArtifact:
        """Upload the file at `source` unless present (it must not change meanwhile)."""
        return self._upload(Path(source), fmt="file", type_name="file")

    def local_path(self, uri: str) -> Path:
        digest = self._digest_of(uri)
        cached = self._cached(digest)
        if not cached.is_file():
            self._download(uri, digest, cached)
        return cached

    def load_object(self, uri: str) -> Any:
        """Unpickle an artifact written by `put_object` (downloaded first if not cached)."""
        with open(self.local_path(uri), "rb") as handle:
            return pickle.load(handle)

    def _upload(self, path: Path, *, fmt: str, type_name: str) -> StoredArtifact:
        with open(path, "rb") as handle:
            digest, size = _sha256(handle)
        key = digest_key(digest)
        if not self.store.exists(key):
            self.store.put_file(key, path)
        return StoredArtifact(self.store.url(key), digest, size, fmt, type_name)

    def _download(self, uri: str, digest: str, cached: Path) -> None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.")
        os.close(descriptor)
        tmp = Path(name)  # a unique name: concurrent downloads of one artifact never collide
        try:
            if not self.store.get_file(digest_key(digest), tmp):
                raise FileNotFoundError(f"artifact {uri} is missing from its object store")
            with open(tmp, "rb") as handle:
                got, _ = _sha256(handle)
            if got != digest:
                raise ValueError(f"artifact {uri}: its content hashes to {got}, not {digest}")
            os.replace(tmp, cached)
        finally:
            _discard(tmp)

    def _digest_of(self, uri: str) -> str:
        """The digest named by a URI of this store; ValueError for any other URI."""
        key = uri.removeprefix(self._base) if uri.startswith(self._base) else ""
        algo, _, rest = key.partition("/")
        head, _, tail = rest.partition("/")
        hexdigest = head + tail
        if algo != _ALGO or len(head) != 2 or len(hexdigest) != 64 or not _is_hex(hexdigest):
            raise ValueError(
                f"artifact {uri!r} is not in this artifact store ({self._base}): steps on an "
                "object store exchange artifacts only through it"
            )
        return f"{algo}:{hexdigest}"

    def _cached(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        return self.cache_dir / algo / hexdigest


def digest_key(digest: str) -> str:
    """The key of an artifact under a store's root: `sha256:abcdef...` -> `sha256/ab/cdef...`."""
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}/{hexdigest[:2]}/{hexdigest[2:]}"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _discard(path: Path) -> None:
    """Remove a leftover temporary file (already gone after a successful rename)."""
    path.unlink(missing_ok=True)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _sha256(handle: BinaryIO) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return f"sha256:{hasher.hexdigest()}", size
