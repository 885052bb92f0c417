"""The Helm chart: generated from the same objects as the plain install, checked in, and what
Helm would render from it (substituting its three values) is that install, valid upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from mlkube import __version__
from mlkube.cli.install import install
from mlkube.install import install_manifests
from mlkube.install.helm import (
    IMAGE_EXPRESSION,
    NAMESPACE_EXPRESSION,
    REPLICAS_EXPRESSION,
    helm_chart,
)
from tests.unit.install.test_install_manifests import VERSIONS

CHECKED_IN = Path(__file__).parents[3] / "deploy" / "helm" / "mlkube"


def render(text: str, *, repository: str, tag: str, namespace: str, replicas: int) -> Any:
    """What Helm makes of a template with these values (the chart uses only these three)."""
    text = text.replace(IMAGE_EXPRESSION, f'"{repository}:{tag or __version__}"')
    text = text.replace(NAMESPACE_EXPRESSION, f'"{namespace}"')
    text = text.replace(REPLICAS_EXPRESSION, str(replicas))
    assert "{{" not in text, "a template expression the test does not know"
    return yaml.safe_load(text)


def rendered(chart: dict[str, str], **values: Any) -> list[Any]:
    crds = [yaml.safe_load(t) for p, t in chart.items() if p.startswith("crds/")]
    templates = [render(t, **values) for p, t in chart.items() if p.startswith("templates/")]
    return crds + templates


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_what_helm_renders_is_the_plain_install_in_the_release_namespace() -> None:
    chart = helm_chart()
    replicas = yaml.safe_load(chart["values.yaml"])["replicaCount"]  # the default value
    got = rendered(
        chart, repository="registry.example/mlkube", tag="2", namespace="ml", replicas=replicas
    )
    want = [
        o
        for o in install_manifests(image="registry.example/mlkube:2", namespace="ml")
        if o["kind"] != "Namespace"  # `helm install -n ml --create-namespace`
    ]
    assert sorted(got, key=_key) == sorted(want, key=_key)


def test_the_tag_defaults_to_the_app_version_and_replicas_are_a_value() -> None:
    objs = rendered(helm_chart(), repository="r/m", tag="", namespace="x", replicas=2)
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"r/m:{__version__}"
    chart = yaml.safe_load(helm_chart()["Chart.yaml"])
    assert (chart["apiVersion"], chart["appVersion"]) == ("v2", __version__)


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_objects_validate_against_upstream_schemas(version: str) -> None:
    for obj in rendered(helm_chart(), repository="r/m", tag="1", namespace="ml", replicas=1):
        kubernetes_validate.validate(obj, version, strict=True)


def test_checked_in_chart_is_up_to_date(tmp_path: Path) -> None:
    """Regenerate with `mlkube install --kubernetes --helm deploy/helm/mlkube` when this fails."""
    result = CliRunner().invoke(install, ["--kubernetes", "--helm", str(tmp_path)])
    assert result.exit_code == 0, result.output
    fresh = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*.yaml")}
    checked_in = {str(p.relative_to(CHECKED_IN)): p.read_text() for p in CHECKED_IN.rglob("*.yaml")}
    assert sorted(checked_in) == sorted(fresh)
    for name, text in fresh.items():
        assert checked_in[name] == text, f"deploy/helm/mlkube/{name} is stale"


def test_a_chart_and_a_kustomize_base_at_once_is_a_usage_error(tmp_path: Path) -> None:
    args = ["--kubernetes", "--helm", str(tmp_path / "c"), "-o", str(tmp_path / "k")]
    result = CliRunner().invoke(install, args)
    assert result.exit_code == 2 and "not both" in result.output
