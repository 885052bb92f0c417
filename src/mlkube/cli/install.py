"""`mlkube install --kubernetes`: the manifests a cluster needs, as YAML or a kustomize base.

Prints only; it never talks to a cluster. Apply the output with
`mlkube install --kubernetes | kubectl apply --server-side -f -` or `kubectl apply -k DIR`.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlkube.install import (
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    install_manifests,
    kustomize_base,
    to_yaml,
)
from mlkube.install.helm import helm_chart


@click.command()
@click.option(
    "--kubernetes",
    is_flag=True,
    help="Target a Kubernetes cluster (CRDs, operator, RBAC). Required: the only target so far.",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="The operator's container image (the default is a placeholder, not yet published).",
)
@click.option(
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace the operator runs in (created by the manifests).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a kustomize base to this directory (one file per object) instead of stdout.",
)
@click.option(
    "--helm",
    "helm",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the same install as a Helm chart to this directory (image and namespace "
    "become chart values).",
)
def install(
    kubernetes: bool, image: str, namespace: str, output: Path | None, helm: Path | None
) -> None:
    """Print everything a Kubernetes cluster needs to run mlkube.

    CustomResourceDefinitions for the mlkube.io kinds, then the operator's Namespace,
    ServiceAccount, RBAC and Deployment. Nothing is applied: pipe the output to
    `kubectl apply --server-side -f -`, or write a kustomize base with -o.
    """
    if not kubernetes:
        raise click.UsageError(
            "say where to install: --kubernetes (the only target so far; "
            "the embedded platform needs no install, run `mlkube up`)"
        )
    if helm is not None:
        if output is not None:
            raise click.UsageError("give -o (a kustomize base) or --helm (a chart), not both")
        _write(helm, helm_chart())
        return
    objs = install_manifests(image=image, namespace=namespace)
    if output is None:
        click.echo(to_yaml(objs), nl=False)
        return
    _write(output, kustomize_base(objs))


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(files)} files to {folder}", err=True)
