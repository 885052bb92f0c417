"""Content-addressed artifact store on local disk.

An artifact is stored once under `sha256/ab/cdef...` whatever produced it, so identical outputs of
cached or repeated steps cost no extra space and a reference (`file://...` + digest) stays valid
forever. Writes go to a temporary file renamed into place, so a crash never leaves a half
artifact under its final name. Only the standard library is used: this module is imported by
every step process and must cost nothing to import.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

_CHUNK = 1 << 20


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


class LocalArtifactStore:
    """Artifacts as files under `root`; URIs are `file://` paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        return self.root / algo / hexdigest[:2] / hexdigest[2:]

    def put_object(self, value: Any) -> StoredArtifact:
        """Pickle `value` (protocol 5) and store it; returns its reference."""
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        with tempfile.NamedTemporaryFile(dir=self._tmp_dir(), delete=False) as tmp:
            pickle.dump(value, tmp, protocol=5)
        return self._commit(Path(tmp.name), fmt="pickle", type_name=kind)

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
            raise ValueError(f"not a local artifact URI: {uri!r}")
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


def _sha256(handle: BinaryIO) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return f"sha256:{hasher.hexdigest()}", size
