"""The replica's model fetched at start from the artifact its environment names: a `file://`
artifact is checked against its digest; what cannot be fetched is an error naming it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlkube.serving.fetch import (
    ARTIFACT_DIGEST_ENV,
    ARTIFACT_STORE_ENV,
    ARTIFACT_URI_ENV,
    ModelFetchError,
    fetch_artifact,
    model_from_environment,
)
from mlkube.serving.replica import main
from mlkube.storage.artifacts import open_artifact_store


def stored_model(tmp_path: Path) -> tuple[str, str]:
    """A model-like artifact in a local artifact store: (uri, digest)."""
    artifact = open_artifact_store(str(tmp_path / "artifacts")).put_object({"weights": [1, 2]})
    return artifact.uri, artifact.digest


def test_a_file_artifact_is_served_in_place_once_its_digest_matches(tmp_path: Path) -> None:
    uri, digest = stored_model(tmp_path)
    env = {ARTIFACT_URI_ENV: uri, ARTIFACT_DIGEST_ENV: digest}
    path = model_from_environment(env)
    assert path == Path(uri.removeprefix("file://"))
    assert f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" == digest


def test_other_bytes_than_the_run_produced_are_refused(tmp_path: Path) -> None:
    uri, _ = stored_model(tmp_path)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ModelFetchError, match=f"hashes to sha256:[0-9a-f]{{64}}, not {wrong}"):
        fetch_artifact(uri, wrong, store_root=None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({ARTIFACT_URI_ENV: "file:///x"}, f"{ARTIFACT_DIGEST_ENV} is not"),
        (
            {ARTIFACT_URI_ENV: "s3://b/k/sha256/ab/cd", ARTIFACT_DIGEST_ENV: "sha256:abcd"},
            f"is in an object store and {ARTIFACT_STORE_ENV} is not set",
        ),
        (
            {ARTIFACT_URI_ENV: "file:///no/such/model", ARTIFACT_DIGEST_ENV: "sha256:abcd"},
            "cannot read model artifact file:///no/such/model",
        ),
        (
            {ARTIFACT_URI_ENV: "file:///x", ARTIFACT_DIGEST_ENV: "md5:abcd"},
            "unsupported digest 'md5:abcd'",
        ),
    ],
)
def test_what_cannot_be_fetched_says_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ModelFetchError, match=message):
        model_from_environment(env)


def test_no_artifact_named_is_none() -> None:
    assert model_from_environment({}) is None


def test_the_replica_exits_with_the_reason_when_its_model_cannot_be_fetched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _ = stored_model(tmp_path)
    env = {ARTIFACT_URI_ENV: uri, ARTIFACT_DIGEST_ENV: "sha256:" + "0" * 64}
    assert main(["--name", "m"], env) == 1
    assert f"mlkube replica: error: model artifact {uri} hashes to" in capsys.readouterr().err
    assert main(["--name", "m"], {}) == 1
    assert "give --model PATH, or the artifact in $MLKUBE_MODEL_ARTIFACT_URI" in (
        capsys.readouterr().err
    )
