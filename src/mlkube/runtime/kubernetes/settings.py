"""Platform settings the builders read: the image, the object store, GPU product names.

One frozen value passed into every builder (no globals, no environment reads), so the same
inputs always build the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mlkube import __version__
from mlkube.api.nodegroups import NodeGroupSpec
from mlkube.api.quantity import QuantityError, parse_quantity
from mlkube.runtime.kubernetes.errors import TranslationError

# The operator's image (see `mlkube.install.operator`): it holds mlkube, so it can run a step's
# executor, a training worker's entry point and a model replica.
DEFAULT_IMAGE = f"ghcr.io/mlkube/mlkube:{__version__}"
# The restricted Pod Security Standard wants a non-root user; the operator runs as this one.
NON_ROOT_UID = 65532


def _frozen(mapping: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({k.lower(): tuple(v) for k, v in mapping.items()})


@dataclass(frozen=True)
class ClusterSettings:
    """How our resources are built into Kubernetes objects on one cluster.

    `image` runs steps, workers and replicas. `artifact_store` (`s3://BUCKET/PREFIX`) is where
    steps exchange artifacts and write their results; `artifact_credentials_secret` names a
    Secret whose keys become the pods' environment (e.g. `AWS_ACCESS_KEY_ID`). `gpu_products`
    maps a GPU model as users write it (`A100`, matched case-insensitively) to the values
    the vendors' node labellers put on nodes (`NVIDIA-A100-SXM4-80GB`, ...). `default_requests`
    are the CPU and memory requested by a pod whose spec asks for none: a namespace with a
    ResourceQuota refuses pods without requests. `ttl_seconds_after_finished` keeps a finished
    Job long enough for the controller to read its outcome. `node_groups` are the groups the
    cluster adds nodes to on demand: the capacity admitted against counts each at its max
    (`api.nodegroups`, `cluster_node`).
    """

    image: str = DEFAULT_IMAGE
    artifact_store: str | None = None
    artifact_credentials_secret: str | None = None
    gpu_products: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_requests: Mapping[str, str] = field(
        default_factory=lambda: {"cpu": "100m", "memory": "128Mi"}
    )
    ttl_seconds_after_finished: int = 3600
    run_as_user: int = NON_ROOT_UID
    node_groups: tuple[NodeGroupSpec, ...] = ()

    def __post_init__(self) -> None:
        if not self.image:
            raise TranslationError("image", "must not be empty")
        store = self.artifact_store
        if store is not None and not (store.startswith("s3://") and len(store) > len("s3://")):
            raise TranslationError(
                "artifactStore", f"must be s3://BUCKET[/PREFIX] (an object store), not {store!r}"
            )
        if self.ttl_seconds_after_finished < 0:
            raise TranslationError("ttlSecondsAfterFinished", "must not be negative")
        if self.run_as_user <= 0:
            raise TranslationError("runAsUser", "must be a non-root user id (above 0)")
        self._check_default_requests()
        object.__setattr__(self, "gpu_products", _frozen(self.gpu_products))
        object.__setattr__(self, "default_requests", MappingProxyType(dict(self.default_requests)))

    def _check_default_requests(self) -> None:
        for name, amount in self.default_requests.items():
            if name not in ("cpu", "memory"):
                raise TranslationError(
                    f"defaultRequests.{name}", "only cpu and memory have defaults"
                )
            try:
                parse_quantity(amount)
            except QuantityError as err:
                raise TranslationError(f"defaultRequests.{name}", str(err)) from None

    def store_root(self) -> str:
        """The object store's root URI, without a trailing `/`; refuses when none is set."""
        if self.artifact_store is None:
            raise TranslationError(
                "artifactStore",
                "a step on a cluster exchanges artifacts through an object store: set "
                "s3://BUCKET[/PREFIX]",
            )
        return self.artifact_store.rstrip("/")
