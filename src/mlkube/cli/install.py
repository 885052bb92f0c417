"""`mlkube install --kubernetes`: the manifests a cluster needs, as YAML or a kustomize base,
or applied to a cluster with `--apply` (the kubeconfig's current context, or `--kubeconfig`
and `--context`), one line per object as kubectl prints them.

Without `--apply` it prints only; apply the output with
`mlkube install --kubernetes | kubectl apply --server-side -f -` or `kubectl apply -k DIR`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlkube.api.nodegroups import NodeGroupsError, parse_node_groups
from mlkube.cli.cluster_options import checked_artifact_store
from mlkube.install import (
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    install_manifests,
    kustomize_base,
    to_yaml,
)
from mlkube.install.apply import ApplyError, KubeconfigError, apply_objects, kube_client
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
@click.option(
    "--apply",
    "apply",
    is_flag=True,
    help="Apply the manifests to the cluster instead of printing them (CRDs first, waited for "
    "until Established).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --apply: the kubeconfig to use (default: $KUBECONFIG or ~/.kube/config).",
)
@click.option("--context", default=None, help="With --apply: the kubeconfig context to use.")
@click.option(
    "--artifact-store",
    default=None,
    metavar="s3://BUCKET[/PREFIX]",
    callback=lambda ctx, param, value: checked_artifact_store(value),
    help="Also write the operator's ConfigMap naming the object store steps exchange their "
    "data through (put the operator's own AWS_* credentials in the Secret "
    "mlkube-artifact-store of its namespace).",
)
@click.option(
    "--artifact-credentials-secret",
    default=None,
    help="Secret, in each run's namespace, that gives step pods their AWS_* credentials.",
)
@click.option(
    "--node-groups",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML list of the node groups the cluster grows on demand; goes into the "
    "operator's ConfigMap (see `mlkube operator --node-groups`).",
)
def install(
    kubernetes: bool,
    image: str,
    namespace: str,
    output: Path | None,
    helm: Path | None,
    apply: bool,
    kubeconfig: Path | None,
    context: str | None,
    artifact_store: str | None,
    artifact_credentials_secret: str | None,
    node_groups: Path | None,
) -> None:
    """Print everything a Kubernetes cluster needs to run mlkube.

    CustomResourceDefinitions for the mlkube.io kinds, then the operator's Namespace,
    ServiceAccount, RBAC and Deployment. Nothing is applied unless --apply is given: pipe
    the output to `kubectl apply --server-side -f -`, or write a kustomize base with -o.
    """
    if not kubernetes:
        raise click.UsageError(
            "say where to install: --kubernetes (the only target so far; "
            "the embedded platform needs no install, run `mlkube up`)"
        )
    store = {
        "artifact_store": artifact_store,
        "artifact_credentials_secret": artifact_credentials_secret,
        "node_groups": _checked_node_groups(node_groups),
    }
    if apply:
        if output is not None or helm is not None:
            raise click.UsageError("--apply writes to the cluster; it takes no -o or --helm")
        _apply(install_manifests(image=image, namespace=namespace, **store), kubeconfig, context)
        return
    if kubeconfig is not None or context is not None:
        raise click.UsageError("--kubeconfig and --context go with --apply")
    if helm is not None:
        if output is not None:
            raise click.UsageError("give -o (a kustomize base) or --helm (a chart), not both")
        if any(store.values()):
            raise click.UsageError(
                "a chart takes no operator settings: create the ConfigMap mlkube-operator-config "
                "in the release's namespace (see the README)"
            )
        _write(helm, helm_chart())
        return
    objs = install_manifests(image=image, namespace=namespace, **store)
    if output is None:
        click.echo(to_yaml(objs), nl=False)
        return
    _write(output, kustomize_base(objs))


def _apply(objs: list[dict[str, Any]], kubeconfig: Path | None, context: str | None) -> None:
    """Apply to the kubeconfig's cluster; a kubeconfig that cannot be used exits 2, a refusal
    by the cluster 1 (after the lines of the objects applied before it)."""
    try:
        api = kube_client(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context)
    except KubeconfigError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None
    with api:
        try:
            for line in apply_objects(api, objs):
                click.echo(line)
        except ApplyError as err:
            raise click.ClickException(str(err)) from None


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(files)} files to {folder}", err=True)


def _checked_node_groups(path: Path | None) -> str | None:
    """The file's text once it parses as node groups; a usage error naming the field if not."""
    if path is None:
        return None
    text = path.read_text()
    try:
        parse_node_groups(text, source=str(path))
    except NodeGroupsError as e:
        raise click.BadParameter(str(e), param_hint="--node-groups") from None
    return text
