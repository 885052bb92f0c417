"""A revision whose model is a run's artifact: the replica is told what to fetch (in the
names the replica reads), and every object stays valid Kubernetes; the VPA's update modes."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlkube.api.pipelinerun import ArtifactRef
from mlkube.runtime.kubernetes import ClusterSettings, Revision, TranslationError, serving_objects
from mlkube.serving.fetch import ARTIFACT_DIGEST_ENV, ARTIFACT_STORE_ENV, ARTIFACT_URI_ENV
from tests.unit.kube_objects.specs import SETTINGS, STORE, container, env, isvc

DIGEST = "sha256:" + "cd" * 32
S3 = ArtifactRef(uri=f"{STORE}/sha256/cd/cdcd", digest=DIGEST, size=2048)
LOCAL = ArtifactRef(uri="file:///data/artifacts/sha256/cd/cdcd", digest=DIGEST, size=2048)


def objects(artifact: ArtifactRef, settings: ClusterSettings = SETTINGS) -> list[dict[str, Any]]:
    return serving_objects(isvc(), Revision("digits-predictor", "", artifact), settings)


def test_the_replica_gets_the_artifact_and_the_store_in_the_names_it_reads() -> None:
    deployment = objects(
        S3, ClusterSettings(artifact_store=STORE, artifact_credentials_secret="s3")
    )[0]
    assert env(deployment)[ARTIFACT_URI_ENV] == S3.uri
    assert env(deployment)[ARTIFACT_DIGEST_ENV] == DIGEST
    assert env(deployment)[ARTIFACT_STORE_ENV] == STORE
    assert container(deployment)["envFrom"] == [{"secretRef": {"name": "s3"}}]
    assert "--model" not in container(deployment)["command"]


def test_a_local_artifact_needs_no_store() -> None:
    deployment = objects(LOCAL, ClusterSettings())[0]
    assert env(deployment)[ARTIFACT_URI_ENV] == LOCAL.uri
    assert ARTIFACT_STORE_ENV not in env(deployment)


def test_an_object_store_artifact_without_a_store_is_refused() -> None:
    with pytest.raises(
        TranslationError, match=r"spec\.predictor\.model\.storageUri: .* artifactStore"
    ):
        objects(S3, ClusterSettings())


@pytest.mark.parametrize(
    "revision", [Revision("r", "", None), Revision("r", "/models/m", LOCAL), Revision("", "/m")]
)
def test_a_revision_needs_exactly_one_model(revision: Revision) -> None:
    with pytest.raises(TranslationError, match="either a model path or an artifact"):
        serving_objects(isvc(), revision, SETTINGS)


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_the_objects_of_an_artifact_revision_are_valid_kubernetes(version: str) -> None:
    for obj in objects(S3, ClusterSettings(artifact_store=STORE, artifact_credentials_secret="s3")):
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("mode", ["Off", "Initial"])
def test_the_vpa_modes_that_never_evict(mode: str) -> None:
    objs = serving_objects(
        isvc(), Revision("digits-predictor", "/m"), SETTINGS, vpa=True, vpa_update_mode=mode
    )
    assert objs[-1]["spec"]["updatePolicy"] == {"updateMode": mode}


@pytest.mark.parametrize("mode", ["Auto", "Recreate", "off"])
def test_an_evicting_vpa_mode_is_refused(mode: str) -> None:
    with pytest.raises(TranslationError, match="vpaUpdateMode: must be one of Off, Initial"):
        serving_objects(
            isvc(), Revision("digits-predictor", "/m"), SETTINGS, vpa=True, vpa_update_mode=mode
        )
