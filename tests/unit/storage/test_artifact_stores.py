"""Both artifact stores behave alike: content addressing, idempotence, key layout, loading.

`ObjectArtifactStore` runs here over the local-disk object store (no sockets); the S3 backend
is exercised in tests/integration/storage.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest

from mlkube.storage.artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    ObjectArtifactStore,
    open_artifact_store,
)
from mlkube.storage.objectstore import open_object_store


def _open(kind: str, root: Path) -> ArtifactStore:
    if kind == "local":
        return LocalArtifactStore(root)
    return ObjectArtifactStore(open_object_store(str(root)), cache_dir=root.parent / "cache")


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").rglob("*") if p.is_file())


@pytest.fixture(params=["local", "object"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_an_object_is_stored_under_its_sha256(kind: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    stored = _open(kind, root).put_object({"weights": list(range(10))})
    hexdigest = hashlib.sha256(pickle.dumps({"weights": list(range(10))}, protocol=5)).hexdigest()
    assert stored.digest == f"sha256:{hexdigest}"
    assert stored.uri == f"file://{root}/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    assert (stored.format, stored.type) == ("pickle", "builtins.dict")
    assert stored.size == (root / "sha256" / hexdigest[:2] / hexdigest[2:]).stat().st_size


def test_the_same_bytes_give_the_same_uri_and_one_object(kind: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = _open(kind, root)
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    first, again = store.put_file(source), store.put_file(source)
    assert first == again and first.format == "file"
    assert store.put_object(b"x" * 1000) == store.put_object(b"x" * 1000)
    assert len(_objects(root)) == 2


def test_a_stored_file_is_read_back_through_local_path(kind: str, tmp_path: Path) -> None:
    store = _open(kind, tmp_path / "artifacts")
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    stored = store.put_file(source)
    assert store.local_path(stored.uri).read_text() == "a,b\n1,2\n"
    assert store.load_object(store.put_object((1, "two")).uri) == (1, "two")


def test_both_stores_describe_an_artifact_the_same_way(tmp_path: Path) -> None:
    local = _open("local", tmp_path / "a").put_object([1.5, None])
    remote = _open("object", tmp_path / "b").put_object([1.5, None])
    assert (local.digest, local.size, local.format, local.type) == (
        remote.digest,
        remote.size,
        remote.format,
        remote.type,
    )


def test_local_path_downloads_once_into_the_cache_and_checks_the_digest(tmp_path: Path) -> None:
    objects = open_object_store(str(tmp_path / "bucket"))
    writer = ObjectArtifactStore(objects, cache_dir=tmp_path / "writer-cache")
    stored = writer.put_file(_write(tmp_path / "in.txt", b"hello"))
    reader = ObjectArtifactStore(objects, cache_dir=tmp_path / "reader-cache")
    path = reader.local_path(stored.uri)
    assert path == tmp_path / "reader-cache" / "sha256" / stored.digest.removeprefix("sha256:")
    assert path.read_bytes() == b"hello"
    objects.delete_prefix("sha256")  # gone from the store: the cached copy still serves
    assert reader.local_path(stored.uri).read_bytes() == b"hello"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporaries


def test_put_object_leaves_the_pickle_in_the_cache(tmp_path: Path) -> None:
    objects = open_object_store(str(tmp_path / "bucket"))
    store = ObjectArtifactStore(objects, cache_dir=tmp_path / "cache")
    stored = store.put_object(list(range(100)))
    objects.delete_prefix("sha256")
    assert store.load_object(stored.uri) == list(range(100))


def test_a_corrupt_object_is_refused_not_cached(tmp_path: Path) -> None:
    objects = open_object_store(str(tmp_path / "bucket"))
    stored = ObjectArtifactStore(objects, cache_dir=tmp_path / "w").put_object("payload")
    key = stored.uri.removeprefix(f"file://{tmp_path}/bucket/")
    objects.put_bytes(key, b"tampered")
    reader = ObjectArtifactStore(objects, cache_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="its content hashes to sha256:"):
        reader.local_path(stored.uri)
    assert not any(p.is_file() for p in (tmp_path / "r").rglob("*"))


def test_a_missing_artifact_is_an_error_naming_its_uri(tmp_path: Path) -> None:
    objects = open_object_store(str(tmp_path / "bucket"))
    uri = objects.url("sha256/ab/" + "c" * 62)
    store = ObjectArtifactStore(objects, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=f"artifact {uri} is missing"):
        store.local_path(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///elsewhere/sha256/ab/" + "c" * 62,
        "s3://bucket/sha256/ab/" + "c" * 62,
        "{root}/sha256/ab/not-hex",
        "{root}/other/ab/" + "c" * 62,
    ],
)
def test_a_uri_outside_the_object_store_is_refused_clearly(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "bucket"
    store = ObjectArtifactStore(open_object_store(str(root)), cache_dir=tmp_path / "cache")
    uri = uri.format(root=f"file://{root}")
    with pytest.raises(ValueError, match=r"is not in this artifact store .* only through it"):
        store.local_path(uri)


def test_the_local_store_refuses_an_object_store_uri_clearly(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="'s3://b/sha256/ab/cd' is not on local disk"):
        store.local_path("s3://b/sha256/ab/cd")


def test_open_artifact_store_keeps_local_roots_on_the_local_store(tmp_path: Path) -> None:
    for root in (str(tmp_path), f"file://{tmp_path}"):
        store = open_artifact_store(root)
        assert isinstance(store, LocalArtifactStore) and store.root == tmp_path
    with pytest.raises(ValueError, match="unknown scheme"):
        open_artifact_store("nosuchscheme://x")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
