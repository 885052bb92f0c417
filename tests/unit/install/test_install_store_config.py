"""The operator's settings on a cluster: a ConfigMap and a Secret its container reads as its
environment, both optional, written by `mlkube install --artifact-store ...`."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from click.testing import CliRunner

from mlkube.cli.main import cli
from mlkube.install import DEFAULT_IMAGE, install_manifests
from mlkube.install.operator import (
    CONFIG_MOUNT,
    NODE_GROUPS_KEY,
    OPERATOR_CONFIG,
    OPERATOR_STORE_SECRET,
)

STORE = "s3://team-lake/mlkube"


def _container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = [o for o in objs if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_the_operator_reads_its_optional_config_map_and_secret_and_knows_its_image() -> None:
    container = _container(install_manifests(image="registry.example/ml/mlkube:7"))
    assert container["envFrom"] == [
        {"configMapRef": {"name": OPERATOR_CONFIG, "optional": True}},
        {"secretRef": {"name": OPERATOR_STORE_SECRET, "optional": True}},
    ]
    assert {"name": "MLKUBE_IMAGE", "value": "registry.example/ml/mlkube:7"} in container["env"]


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_a_store_adds_the_config_map_right_after_the_namespace(version: str) -> None:
    objs = install_manifests(
        image=DEFAULT_IMAGE, artifact_store=STORE, artifact_credentials_secret="s3"
    )
    crds = sum(o["kind"] == "CustomResourceDefinition" for o in objs)
    namespace, config = objs[crds], objs[crds + 1]
    assert namespace["kind"] == "Namespace"
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", OPERATOR_CONFIG)
    assert config["metadata"]["namespace"] == namespace["metadata"]["name"]
    assert config["data"] == {
        "MLKUBE_ARTIFACT_STORE": STORE,
        "MLKUBE_ARTIFACT_CREDENTIALS_SECRET": "s3",
    }
    kubernetes_validate.validate(config, version, strict=True)


def test_without_a_store_there_is_no_config_map() -> None:
    assert not [o for o in install_manifests(image=DEFAULT_IMAGE) if o["kind"] == "ConfigMap"]


def test_a_store_that_cannot_be_opened_is_refused() -> None:
    result = CliRunner().invoke(cli, ["install", "--kubernetes", "--artifact-store", "s3://"])
    assert result.exit_code == 2
    assert "must name a bucket" in result.output


def test_a_chart_takes_no_store_settings(tmp_path: Any) -> None:
    args = ["install", "--kubernetes", "--helm", str(tmp_path), "--artifact-store", STORE]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "create the ConfigMap mlkube-operator-config" in result.output


GROUPS = "- {name: big, nodeSelector: {pool: big}, template: {cpu: 8, memory: 32Gi}, max: 3}\n"


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_node_groups_become_a_file_the_operator_is_pointed_at(version: str) -> None:
    objs = install_manifests(image=DEFAULT_IMAGE, node_groups=GROUPS)
    [config] = [o for o in objs if o["kind"] == "ConfigMap"]
    assert config["data"] == {
        "MLKUBE_NODE_GROUPS": f"{CONFIG_MOUNT}/{NODE_GROUPS_KEY}",
        NODE_GROUPS_KEY: GROUPS,
    }
    container = _container(objs)
    assert {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True} in container[
        "volumeMounts"
    ]
    kubernetes_validate.validate(config, version, strict=True)
    [deployment] = [o for o in objs if o["kind"] == "Deployment"]
    kubernetes_validate.validate(deployment, version, strict=True)


def test_a_node_groups_file_that_is_wrong_is_refused(tmp_path: Any) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {name: big, template: {cpu: 8, memory: 32Gi}, max: 3}\n")
    result = CliRunner().invoke(cli, ["install", "--kubernetes", "--node-groups", str(groups)])
    assert result.exit_code == 2
    assert "[0].nodeSelector: Field required" in result.output
