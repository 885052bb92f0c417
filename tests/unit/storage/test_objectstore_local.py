"""The object store on local disk, and the URI helpers: keys, errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.storage.objectstore import open_object_store, read_uri, split_uri, write_uri


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_keys_map_to_files_under_the_root_and_urls_are_file_uris(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path))
    store.put_bytes("runs/a/result.json", b"{}")
    assert (tmp_path / "runs" / "a" / "result.json").read_bytes() == b"{}"
    assert store.url("runs/a/result.json") == f"file://{tmp_path}/runs/a/result.json"
    assert store.get_bytes("runs/a/result.json") == b"{}"
    assert store.exists("runs/a/result.json")
    assert not store.exists("runs/a")  # a folder is not an object


def test_a_file_uri_root_is_the_same_store_as_its_path(tmp_path: Path) -> None:
    open_object_store(str(tmp_path)).put_bytes("k", b"v")
    assert open_object_store(f"file://{tmp_path}").get_bytes("k") == b"v"


def test_missing_objects_are_none_or_false_not_errors(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path))
    assert store.get_bytes("nothing/here") is None
    assert store.exists("nothing/here") is False
    assert store.get_file("nothing/here", tmp_path / "out") is False
    assert not (tmp_path / "out").exists()


def test_put_file_and_get_file_copy_whole_files(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path / "store"))
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00" * 3000)
    store.put_file("models/m", source)
    assert source.exists()  # left in place
    assert store.get_file("models/m", tmp_path / "back" / "m.bin")
    assert (tmp_path / "back" / "m.bin").read_bytes() == b"\x00" * 3000
    assert _files(tmp_path / "back") == ["m.bin"]  # no temporary left behind


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a/", ".."])
def test_bad_keys_are_refused_naming_the_key_and_nothing_is_written(
    tmp_path: Path, key: str
) -> None:
    store = open_object_store(str(tmp_path / "store"))
    with pytest.raises(ValueError, match=r"key: .* must be a relative"):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "store").exists() or _files(tmp_path / "store") == []


def test_delete_prefix_removes_a_folder_of_objects_never_a_partial_name(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path))
    for key in ("attempts/run1/a/1/result.json", "attempts/run1/b/1/log", "attempts/run10/x"):
        store.put_bytes(key, b".")
    assert store.delete_prefix("attempts/run1") == 2
    assert store.exists("attempts/run10/x")
    assert store.delete_prefix("attempts/run1") == 0
    assert store.delete_prefix("attempts/run10/x") == 1  # one object named exactly
    assert _files(tmp_path) == []


def test_delete_prefix_refuses_to_empty_the_whole_store(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path))
    store.put_bytes("keep", b".")
    for prefix in ("", "/"):
        with pytest.raises(ValueError, match="prefix: empty"):
            store.delete_prefix(prefix)
    assert store.exists("keep")


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("nosuchscheme://bucket/x", "unknown scheme 'nosuchscheme'"),
        ("s3://", "root: 's3://' must name a bucket"),
        ("s3:///key", "must name a bucket"),
        ("file://host/data", "must be file:///ABSOLUTE/PATH"),
        ("ht tp://x", "malformed scheme"),
        ("", "root: empty"),
    ],
)
def test_bad_roots_are_refused_with_the_reason(root: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_object_store(root)


def test_a_local_root_takes_no_storage_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="options: a local root"):
        open_object_store(str(tmp_path), options={"key": "k"})


def test_split_uri_makes_paths_absolute_and_lowercases_schemes(tmp_path: Path) -> None:
    assert split_uri("rel/dir", field="root") == ("file", str(Path.cwd() / "rel" / "dir"))
    assert split_uri(f"file://{tmp_path}", field="root") == ("file", str(tmp_path))
    assert split_uri("S3://Bucket/Key", field="root") == ("s3", "Bucket/Key")


@pytest.mark.parametrize("form", ["path", "file-uri"])
def test_write_uri_and_read_uri_on_local_disk(tmp_path: Path, form: str) -> None:
    target = tmp_path / "attempt" / "result.json"
    uri = str(target) if form == "path" else f"file://{target}"
    assert read_uri(uri) is None
    write_uri(uri, b'{"outputs": []}')
    assert read_uri(uri) == b'{"outputs": []}'
    assert _files(tmp_path) == ["attempt/result.json"]


def test_write_uri_replaces_by_rename_so_a_reader_never_sees_a_mix(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    write_uri(str(target), b"old contents")
    with open(target, "rb") as reader:  # opened before the rewrite
        write_uri(str(target), b"new")
        assert reader.read() == b"old contents"  # its file was swapped, not rewritten
    assert target.read_bytes() == b"new"


def test_a_failed_write_keeps_the_old_object_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    write_uri(str(target), b"good")
    with pytest.raises(TypeError):
        write_uri(str(target), "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"good"
    assert _files(tmp_path) == ["result.json"]
