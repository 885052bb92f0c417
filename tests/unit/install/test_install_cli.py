"""`mlkube install --kubernetes`, and the kustomize base checked in under deploy/kustomize."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from mlkube.cli.install import install
from mlkube.install import DEFAULT_IMAGE, install_manifests

CHECKED_IN = Path(__file__).parents[3] / "deploy" / "kustomize"


def test_without_kubernetes_is_a_usage_error() -> None:
    result = CliRunner().invoke(install, [])
    assert result.exit_code == 2
    assert "--kubernetes" in result.output


def test_prints_every_object_as_yaml() -> None:
    result = CliRunner().invoke(install, ["--kubernetes", "--image", "img:1", "--namespace", "x"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert docs == install_manifests(image="img:1", namespace="x")


def test_writes_a_kustomize_base(tmp_path: Path) -> None:
    result = CliRunner().invoke(install, ["--kubernetes", "-o", str(tmp_path / "base")])
    assert result.exit_code == 0, result.output
    base = tmp_path / "base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    docs = [yaml.safe_load((base / name).read_text()) for name in kustomization["resources"]]
    assert docs == install_manifests(image=DEFAULT_IMAGE)
    assert sorted(p.name for p in base.iterdir()) == sorted(
        [*kustomization["resources"], "kustomization.yaml"]
    )


def test_checked_in_base_is_up_to_date(tmp_path: Path) -> None:
    """Regenerate with `mlkube install --kubernetes -o deploy/kustomize` when this fails."""
    result = CliRunner().invoke(install, ["--kubernetes", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    checked_in = {p.name: p.read_text() for p in CHECKED_IN.iterdir()}
    assert sorted(checked_in) == sorted(fresh)
    for name, text in fresh.items():
        assert checked_in[name] == text, f"deploy/kustomize/{name} is stale"
