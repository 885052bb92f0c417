"""What the operator builds pods with, as options of `mlkube operator` (one decorator).

    @cluster_settings_options
    def operator(..., settings: ClusterSettings) -> None:

adds `--image`, `--artifact-store`, `--artifact-credentials-secret`, `--node-groups` and
`--gpu-product`, each also read from an environment variable (`MLKUBE_IMAGE`,
`MLKUBE_ARTIFACT_STORE`, `MLKUBE_ARTIFACT_CREDENTIALS_SECRET`, `MLKUBE_NODE_GROUPS`,
`MLKUBE_GPU_PRODUCTS` with products separated by spaces), which is how the operator's
Deployment sets them, and hands the command one `settings`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mlkube.api.nodegroups import NodeGroupsError, NodeGroupSpec, parse_node_groups
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.settings import DEFAULT_IMAGE, ClusterSettings
from mlkube.storage.objectstore import open_object_store

__all__ = [
    "checked_artifact_store",
    "cluster_settings",
    "cluster_settings_options",
    "gpu_products",
]

_OPTIONS = (
    click.option(
        "--image",
        envvar="MLKUBE_IMAGE",
        default=DEFAULT_IMAGE,
        show_default=True,
        help="Image of step pods, training workers and model replicas ($MLKUBE_IMAGE).",
    ),
    click.option(
        "--artifact-store",
        envvar="MLKUBE_ARTIFACT_STORE",
        default=None,
        metavar="s3://BUCKET[/PREFIX]",
        help="Object store through which step pods take their invocation, exchange artifacts "
        "and write their result ($MLKUBE_ARTIFACT_STORE). Without it, pods must share the "
        "--data folder. The operator reaches it with the AWS_* environment variables.",
    ),
    click.option(
        "--artifact-credentials-secret",
        envvar="MLKUBE_ARTIFACT_CREDENTIALS_SECRET",
        default=None,
        help="Secret, in each run's namespace, whose keys become the step pods' environment "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...).",
    ),
    click.option(
        "--node-groups",
        envvar="MLKUBE_NODE_GROUPS",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="YAML list of the node groups the cluster grows on demand (cluster autoscaler, "
        "Karpenter): work is admitted up to each group's max, and its pods wait Pending for "
        "the nodes ($MLKUBE_NODE_GROUPS).",
    ),
    click.option(
        "--gpu-product",
        "gpu_product",
        multiple=True,
        envvar="MLKUBE_GPU_PRODUCTS",
        help="GPU model to node label value(s), MODEL=NAME[,NAME] (repeatable; in "
        "$MLKUBE_GPU_PRODUCTS separated by spaces).",
    ),
)


def gpu_products(pairs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`MODEL=NAME[,NAME]` pairs as `ClusterSettings.gpu_products`; `click.BadParameter`
    naming the pair that is not one."""
    products: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        model, sep, names = pair.partition("=")
        if not sep or not model or not names:
            raise click.BadParameter(
                f"{pair!r} is not MODEL=NAME[,NAME]", param_hint="--gpu-product"
            )
        products[model] = tuple(n.strip() for n in names.split(",") if n.strip())
    return products


def checked_artifact_store(value: str | None) -> str | None:
    """The `--artifact-store` value once it names a store we can open (scheme, bucket, and the
    installed extra), so a typo stops `mlkube up` instead of failing every step later."""
    if value is None:
        return None
    try:
        open_object_store(value)
    except (ValueError, ImportError) as e:
        raise click.BadParameter(str(e), param_hint="--artifact-store") from None
    return value


def cluster_settings(
    *,
    image: str,
    artifact_store: str | None,
    artifact_credentials_secret: str | None,
    gpu_product: tuple[str, ...],
    node_groups: Path | None = None,
) -> ClusterSettings:
    """The settings the options ask for, checked: a bad value is a `click.BadParameter`."""
    checked_artifact_store(artifact_store)
    groups: tuple[NodeGroupSpec, ...] = ()
    if node_groups is not None:
        try:
            groups = parse_node_groups(node_groups.read_text(), source=str(node_groups))
        except (NodeGroupsError, OSError) as e:
            raise click.BadParameter(str(e), param_hint="--node-groups") from None
    try:
        return ClusterSettings(
            image=image,
            artifact_store=artifact_store,
            artifact_credentials_secret=artifact_credentials_secret,
            gpu_products=gpu_products(gpu_product),
            node_groups=groups,
        )
    except TranslationError as e:
        raise click.BadParameter(str(e)) from None


def cluster_settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options to `command` and pass it `settings=` (see the module docstring)."""

    @functools.wraps(command)
    def with_settings(
        *args: Any,
        image: str,
        artifact_store: str | None,
        artifact_credentials_secret: str | None,
        gpu_product: tuple[str, ...],
        node_groups: Path | None,
        **kwargs: Any,
    ) -> Any:
        settings = cluster_settings(
            image=image,
            artifact_store=artifact_store,
            artifact_credentials_secret=artifact_credentials_secret,
            gpu_product=gpu_product,
            node_groups=node_groups,
        )
        return command(*args, settings=settings, **kwargs)

    wrapped: Callable[..., Any] = with_settings
    for option in reversed(_OPTIONS):
        wrapped = option(wrapped)
    return wrapped
