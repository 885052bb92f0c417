"""ObjectArtifactStore against a real S3 API (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import fsspec  # type: ignore[import-untyped]
import pytest

from mlkube.storage.artifacts import ObjectArtifactStore, open_artifact_store
from mlkube.storage.objectstore import open_object_store
from mlkube.testing.s3 import S3Server


def _store(server: S3Server, root: str, cache: Path) -> ObjectArtifactStore:
    return ObjectArtifactStore(open_object_store(root, options=server.options), cache_dir=cache)


def _objects(server: S3Server, root: str) -> list[str]:
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **server.options)
    return sorted(fs.find(root.removeprefix("s3://")))


def test_objects_are_stored_once_under_their_digest_with_s3_uris(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    root = f"{s3_bucket}/lake"
    store = _store(s3_server, root, tmp_path / "cache")
    value = {"coef": list(range(1000))}
    first, again = store.put_object(value), store.put_object(value)
    hexdigest = hashlib.sha256(pickle.dumps(value, protocol=5)).hexdigest()
    assert first == again
    assert first.uri == f"{root}/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    assert _objects(s3_server, root) == [first.uri.removeprefix("s3://")]


def test_objects_and_files_load_back_in_a_fresh_store(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    writer = _store(s3_server, s3_bucket, tmp_path / "writer")
    source = tmp_path / "table.csv"
    source.write_text("x,y\n1,2\n")
    obj, file = writer.put_object(("a", 1)), writer.put_file(source)
    reader = _store(s3_server, s3_bucket, tmp_path / "reader")  # an empty cache: downloads
    assert reader.load_object(obj.uri) == ("a", 1)
    assert reader.local_path(file.uri).read_text() == "x,y\n1,2\n"
    assert reader.local_path(file.uri).is_relative_to(tmp_path / "reader")


def test_a_missing_artifact_is_a_clear_error_naming_the_uri(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket, tmp_path / "cache")
    uri = f"{s3_bucket}/sha256/ab/{'c' * 62}"
    with pytest.raises(FileNotFoundError, match=f"artifact {uri} is missing"):
        store.load_object(uri)


def test_a_local_artifact_given_to_an_s3_store_is_refused(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    local = open_artifact_store(str(tmp_path / "local")).put_object([1])
    store = _store(s3_server, s3_bucket, tmp_path / "cache")
    with pytest.raises(ValueError, match=f"is not in this artifact store \\({s3_bucket}/\\)"):
        store.local_path(local.uri)


def test_open_artifact_store_gives_the_object_store_for_s3(
    s3_server: S3Server, s3_bucket: str
) -> None:
    store = open_artifact_store(f"{s3_bucket}/p", options=s3_server.options)
    assert isinstance(store, ObjectArtifactStore)
    assert store.put_object(3.5).uri.startswith(f"{s3_bucket}/p/sha256/")
