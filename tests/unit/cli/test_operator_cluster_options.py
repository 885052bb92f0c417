"""`mlkube operator`'s pod-building options: checked before anything connects, and read from
the environment variables the operator's Deployment sets."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from mlkube.cli.cluster_options import cluster_settings, cluster_settings_options
from mlkube.cli.main import cli


def test_an_artifact_store_the_operator_cannot_open_is_refused_before_it_connects() -> None:
    result = CliRunner().invoke(
        cli, ["operator", "--artifact-store", "ftp://files/x", "--no-webhook"]
    )
    assert result.exit_code == 2
    assert "Invalid value for --artifact-store: unknown scheme 'ftp'" in result.output


def test_a_gpu_product_that_is_not_model_equals_names_is_refused() -> None:
    result = CliRunner().invoke(cli, ["operator", "--gpu-product", "A100"])
    assert result.exit_code == 2
    assert "'A100' is not MODEL=NAME[,NAME]" in result.output


def test_the_settings_come_from_the_deployments_environment_variables() -> None:
    env = {
        "MLKUBE_ARTIFACT_STORE": "s3://lake/mlkube",
        "MLKUBE_ARTIFACT_CREDENTIALS_SECRET": "s3-credentials",
        "MLKUBE_IMAGE": "registry.example/team/mlkube:1",
        "MLKUBE_GPU_PRODUCTS": "A100=NVIDIA-A100-SXM4-80GB,NVIDIA-A100-PCIE-40GB H100=NVIDIA-H100",
    }
    seen: dict[str, object] = {}

    @click.command()
    @cluster_settings_options
    def show(settings: object) -> None:
        seen["settings"] = settings

    result = CliRunner().invoke(show, [], env=env)
    assert result.exit_code == 0, result.output
    settings = seen["settings"]
    assert settings == cluster_settings(
        image="registry.example/team/mlkube:1",
        artifact_store="s3://lake/mlkube",
        artifact_credentials_secret="s3-credentials",
        gpu_product=("A100=NVIDIA-A100-SXM4-80GB,NVIDIA-A100-PCIE-40GB", "H100=NVIDIA-H100"),
    )
    assert dict(settings.gpu_products) == {  # type: ignore[attr-defined]
        "a100": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB"),
        "h100": ("NVIDIA-H100",),
    }


def test_a_node_groups_file_that_is_wrong_is_refused_naming_the_field(tmp_path: Path) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text("- {name: gpu, template: {cpu: 2, memory: 1Gi}, max: 1}\n")
    result = CliRunner().invoke(cli, ["operator", "--node-groups", str(groups), "--no-webhook"])
    assert result.exit_code == 2
    assert "[0].nodeSelector: Field required" in result.output
