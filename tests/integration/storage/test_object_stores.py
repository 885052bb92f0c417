"""One behavioural suite for every ObjectStore backend: local disk and S3 (moto on loopback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlkube.storage.objectstore import ObjectStore, open_object_store, read_uri, write_uri
from mlkube.testing.s3 import S3Server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store(str(tmp_path / "store"))
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return open_object_store(f"{bucket}/lake/", options=server.options)


def test_bytes_round_trip_and_missing_is_none(store: ObjectStore) -> None:
    assert store.get_bytes("a/b") is None and not store.exists("a/b")
    store.put_bytes("a/b", b"one")
    store.put_bytes("a/b", b"two")  # replaced whole
    assert store.get_bytes("a/b") == b"two" and store.exists("a/b")
    assert not store.exists("a")  # a prefix is not an object


def test_files_round_trip_and_missing_is_false(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(bytes(range(256)) * 100)
    store.put_file("models/m.bin", source)
    assert store.get_file("models/m.bin", tmp_path / "dl" / "m.bin")
    assert (tmp_path / "dl" / "m.bin").read_bytes() == source.read_bytes()
    assert not store.get_file("models/none", tmp_path / "dl" / "none")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["m.bin"]


def test_delete_prefix_counts_and_spares_neighbours(store: ObjectStore) -> None:
    for key in ("attempts/r1/s/1/result.json", "attempts/r1/s/2/result.json", "attempts/r10/x"):
        store.put_bytes(key, b"{}")
    assert store.delete_prefix("attempts/r1") == 2
    assert not store.exists("attempts/r1/s/1/result.json")
    assert store.exists("attempts/r10/x")
    assert store.delete_prefix("attempts/r1/") == 0


def test_urls_name_the_backend_and_the_full_key(store: ObjectStore, tmp_path: Path) -> None:
    url = store.url("x/y.json")
    assert url.endswith("/x/y.json")
    assert url.startswith(f"file://{tmp_path}/store/") or url.startswith("s3://")
    assert "//x" not in url and "lake//" not in url


def test_write_uri_and_read_uri_on_s3(s3_server: S3Server, s3_bucket: str) -> None:
    uri = f"{s3_bucket}/attempts/ns/run/step/1/result.json"
    assert read_uri(uri, options=s3_server.options) is None
    write_uri(uri, b'{"outputs": []}', options=s3_server.options)
    assert read_uri(uri, options=s3_server.options) == b'{"outputs": []}'
    store = open_object_store(s3_bucket, options=s3_server.options)
    assert store.url("attempts/ns/run/step/1/result.json") == uri


def test_another_process_sees_a_write_at_once_and_is_configured_from_env(
    s3_server: S3Server, s3_bucket: str
) -> None:
    store = open_object_store(f"{s3_bucket}/lake", options=s3_server.options)
    assert not store.exists("from-child")  # a cached "missing" must not hide the child's write
    child = (
        "from mlkube.storage.objectstore import open_object_store\n"
        f"open_object_store({s3_bucket + '/lake'!r}).put_bytes('from-child', b'hi')\n"
    )
    env = {"PATH": "/usr/bin:/bin", **s3_server.env}
    subprocess.run([sys.executable, "-c", child], env=env, check=True)
    assert store.exists("from-child") and store.get_bytes("from-child") == b"hi"
