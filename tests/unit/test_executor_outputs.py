from collections import namedtuple
from pathlib import Path

import pytest

from mlkube.executor.step import StepError, split_outputs
from mlkube.executor.values import decode_input, encode_output
from mlkube.storage.artifacts import LocalArtifactStore


def test_one_output_takes_the_value_as_is() -> None:
    assert split_outputs((1, 2), ["output"]) == {"output": (1, 2)}


def test_several_outputs_from_tuple_namedtuple_or_dict() -> None:
    pair = namedtuple("pair", "a b")
    assert split_outputs((1, 2), ["a", "b"]) == {"a": 1, "b": 2}
    assert split_outputs(pair(3, 4), ["a", "b"]) == {"a": 3, "b": 4}
    assert split_outputs({"b": 2, "a": 1}, ["a", "b"]) == {"a": 1, "b": 2}
    with pytest.raises(StepError, match="must return a tuple of 2"):
        split_outputs(7, ["a", "b"])


def test_small_json_inline_everything_else_by_reference(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)

    def artifacts() -> LocalArtifactStore:
        return store

    assert encode_output("x", {"acc": 0.9}, artifacts) == {"name": "x", "value": {"acc": 0.9}}
    big = encode_output("y", list(range(100_000)), artifacts)
    assert "artifact" in big and big["artifact"]["format"] == "pickle"
    odd = encode_output("z", (1, 2), artifacts)  # a tuple is not plain JSON: keep its type
    assert decode_input(odd, artifacts) == (1, 2)
    assert decode_input(big, artifacts) == list(range(100_000))


def test_identical_artifacts_are_stored_once(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    a = store.put_object(b"x" * 100_000)
    b = store.put_object(b"x" * 100_000)
    assert a == b
    assert len(list((tmp_path / "sha256").rglob("*"))) == 2  # one folder, one file
