"""Objects under a root: local disk or an object store (S3 and S3-compatible) via fsspec.

An `ObjectStore` maps `/`-separated keys (`sha256/ab/cdef`, `attempts/ns/run/1/result.json`)
to whole objects under one root. Two backends sit behind it:

- a root that is a plain path or `file:///abs` is a folder on local disk, handled with the
  standard library only (no extra needed); every write goes to a temporary name renamed into
  place, so a reader never sees half an object;
- `s3://BUCKET[/PREFIX]` (and, untested, any other fsspec protocol) goes through fsspec, which
  the `s3` extra installs. A PUT is atomic on S3. Without `options`, S3 is configured the
  standard AWS way from the environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
  `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`), which is what a pod gets from a Secret.

fsspec's instance and listing caches are turned off: another process (a step's pod) writes
objects that this one must see at once, and a cached "missing" would hide them.

Only the standard library is imported at module level; fsspec is imported when a non-local
root is opened, so the local path costs a step process nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ObjectStore", "open_object_store", "read_uri", "split_uri", "write_uri"]

_MISSING_EXTRA = "install mlkube[s3] for {scheme}:// artifact stores"


class ObjectStore(Protocol):
    """Whole objects under one root, addressed by relative `/`-separated keys.

    A key is relative (no leading `/`), has no empty, `.` or `..` segments; a bad key raises
    `ValueError` naming it and touches nothing. A missing object is not an error for readers
    (`None` / `False`); any other failure (permissions, network) raises.
    """

    def url(self, key: str) -> str:
        """The full URI of `key`: `s3://bucket/prefix/key` or `file:///abs/key`."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there, atomically."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no object under `key`."""
        ...

    def put_file(self, key: str, source: str | os.PathLike[str]) -> None:
        """Upload the file at `source` (left in place) to `key`, atomically."""
        ...

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> bool:
        """Download `key` to `dest` (created or replaced whole); False when missing."""
        ...

    def exists(self, key: str) -> bool:
        """True when an object is stored under `key` (seen at once after any writer's put)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove the object `prefix` and every object under `prefix/`; the number removed.

        `prefix` is a folder-like key (`attempts/ns/run`), never a partial name: `run1` does
        not remove `run10`. An empty prefix is refused, to never wipe the whole store.
        """
        ...


def open_object_store(root: str, *, options: Mapping[str, Any] | None = None) -> ObjectStore:
    """The store at `root`: a plain path (made absolute), `file:///abs`, or `s3://BUCKET[/PREFIX]`.

    `options` are fsspec storage options (`key`, `secret`, `client_kwargs={"endpoint_url":
    ...}`); they are refused for a local root. Raises `ValueError` for a malformed root or an
    unknown scheme and `ImportError` (saying which extra to install) when fsspec or the
    protocol's package is missing.
    """
    scheme, path = split_uri(root, field="root")
    if scheme == "file":
        if options:
            raise ValueError(f"options: a local root ({root!r}) takes no storage options")
        return LocalObjectStore(path)
    if not path or path.startswith("/"):
        raise ValueError(f"root: {root!r} must name a bucket: {scheme}://BUCKET[/PREFIX]")
    return FsspecObjectStore(_filesystem(scheme, options), scheme, path.rstrip("/"))


def read_uri(uri: str, *, options: Mapping[str, Any] | None = None) -> bytes | None:
    """The bytes at one full URI (plain path, `file://`, `s3://bucket/key`); None if missing."""
    scheme, path = split_uri(uri, field="uri")
    if scheme == "file":
        return _read_local(Path(path))
    try:
        data: bytes = _filesystem(scheme, options).cat_file(path)
    except FileNotFoundError:
        return None
    return data


def write_uri(uri: str, data: bytes, *, options: Mapping[str, Any] | None = None) -> None:
    """Write `data` to one full URI, whole or not at all (local: temp + rename; S3: one PUT)."""
    scheme, path = split_uri(uri, field="uri")
    if scheme == "file":
        _write_local(Path(path), data)
    else:
        _filesystem(scheme, options).pipe_file(path, data)


class LocalObjectStore:
    """Objects as files under a local folder; standard library only."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))

    def url(self, key: str) -> str:
        return f"file://{self._path(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        _write_local(self._path(key), data)

    def get_bytes(self, key: str) -> bytes | None:
        return _read_local(self._path(key))

    def put_file(self, key: str, source: str | os.PathLike[str]) -> None:
        _copy_atomically(Path(source), self._path(key))

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> bool:
        try:
            _copy_atomically(self._path(key), Path(dest))
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        target = self._path(_check_prefix(prefix))
        if target.is_file():
            target.unlink()
            return 1
        if not target.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(target))
        shutil.rmtree(target)
        return count

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))


class FsspecObjectStore:
    """Objects under `scheme://root` of an fsspec filesystem (S3 through s3fs)."""

    def __init__(self, fs: Any, scheme: str, root: str) -> None:
        self.fs = fs
        self.scheme = scheme
        self.root = root

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self._path(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            return None
        return data

    def put_file(self, key: str, source: str | os.PathLike[str]) -> None:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"put_file: no file at {os.fspath(source)!r}")
        self.fs.put_file(os.fspath(source), self._path(key))

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> bool:
        dest_path = Path(dest)
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(dest_path)
        try:
            self.fs.get_file(self._path(key), tmp)
            os.replace(tmp, dest_path)
        except FileNotFoundError:
            return False
        finally:
            _discard(tmp)
        return True

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def delete_prefix(self, prefix: str) -> int:
        path = self._path(_check_prefix(prefix))
        found = [p for p in self.fs.find(path) if p == path or p.startswith(path + "/")]
        if found:
            self.fs.rm(found)
        return len(found)

    def _path(self, key: str) -> str:
        return f"{self.root}/{_check_key(key)}"


def split_uri(uri: str, *, field: str) -> tuple[str, str]:
    """(`file`, absolute path) for a path or `file://` URI, else (scheme, rest after `://`).

    The scheme comes back lower-case. A malformed URI raises `ValueError` naming `field`.
    """
    if not uri:
        raise ValueError(f"{field}: empty; give a path, file:///ABS or s3://BUCKET[/PREFIX]")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "file", os.path.abspath(uri)
    scheme = scheme.lower()
    if not scheme.isascii() or not scheme.replace("-", "").replace("+", "").isalnum():
        raise ValueError(f"{field}: {uri!r} has a malformed scheme {scheme!r}")
    if scheme != "file":
        return scheme, rest
    if not rest.startswith("/"):
        raise ValueError(f"{field}: {uri!r} must be file:///ABSOLUTE/PATH (no host)")
    return "file", rest


OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs")


def _filesystem(scheme: str, options: Mapping[str, Any] | None) -> Any:
    """A fresh fsspec filesystem for `scheme`, with instance and listing caches off."""
    try:
        import fsspec  # type: ignore[import-untyped]  # no stubs or py.typed
    except ImportError as err:
        raise ImportError(_MISSING_EXTRA.format(scheme=scheme)) from err
    # Object stores only: a content-addressed store over ftp:// or http:// makes no sense, and
    # those filesystems want arguments a root URL cannot carry.
    if scheme not in OBJECT_STORE_SCHEMES or scheme not in fsspec.available_protocols():
        raise ValueError(
            f"unknown scheme {scheme!r}: use a path, file:///ABS or s3://BUCKET "
            "(gs:// and az:// work where their fsspec packages are installed)"
        )
    settings = {"skip_instance_cache": True, "use_listings_cache": False, **(options or {})}
    try:
        return fsspec.filesystem(scheme, **settings)
    except ImportError as err:
        raise ImportError(_MISSING_EXTRA.format(scheme=scheme)) from err
    except TypeError as err:  # a storage option the filesystem does not take
        raise ValueError(f"options: {scheme}:// does not accept them: {err}") from err


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"key: {key!r} must be a relative a/b/c path without empty, . or ..")
    return key


def _check_prefix(prefix: str) -> str:
    prefix = prefix.rstrip("/")
    if not prefix:
        raise ValueError("prefix: empty; refusing to delete every object in the store")
    return prefix


def _read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_local(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        _discard(tmp)


def _copy_atomically(source: Path, dest: Path) -> None:
    """Copy `source` to `dest` through a temporary sibling; FileNotFoundError if no source."""
    with open(source, "rb") as src:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(dest)
        try:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, dest)
        finally:
            _discard(tmp)


def _temp_name(path: Path) -> str:
    """A fresh, unused name next to `path` (same filesystem, so the rename is atomic)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    return name


def _discard(tmp: str) -> None:
    """Remove a temporary file left behind by a failed write (gone already after a rename)."""
    Path(tmp).unlink(missing_ok=True)
