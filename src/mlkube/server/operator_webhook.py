"""The admission webhook as the operator runs it: which checks, which certificate, and the
caBundle written back to the cluster.

    webhook = OperatorWebhook(WebhookSettings(namespace="mlkube-system"))
    webhook.start(api_client, leader=lambda: platform.manager)
    ...
    webhook.stop()

Every replica serves the webhook, the standbys of a leader election too (the Service sends
the kube-apiserver to any ready pod), so the checks do not depend on this process running the
controllers. They are the embedded API's (`cluster_admission`), fed from:
- where this replica leads (`leader()` gives its `ControllerManager`): the controllers' own
  view, exactly what the embedded API uses: the capacity they admit against (the cluster as
  one node, the sum of its Ready, schedulable Nodes) and the queue usage they hold;
- elsewhere: the same capacity computed from the Nodes listed now, and each ClusterQueue's
  usage as its `status.flavorsUsage` shows it (written by the leader).
A step is refused only when the whole cluster could never hold it; kube-scheduler still
leaves a step larger than any one node Pending.

Not run here: the storage-quota check. On a cluster Kubernetes' own quota admission enforces a
`ResourceQuota`: `count/pipelineruns.mlkube.io` natively (with the same "exceeded quota"
words), and `requests.storage` as the storage of PersistentVolumeClaims, not as the artifact
bytes the embedded check counts; and the operator's `mlkube-queues` quotas (cpu, memory,
GPUs) are not quotas that check can read.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient

from mlkube.api.errors import ApiError, Cause
from mlkube.api.kinds import CLUSTER_QUEUE, NODE, Kind
from mlkube.api.meta import Model
from mlkube.api.nodegroups import NodeGroupSpec
from mlkube.api.queueing import ClusterQueueStatus
from mlkube.controllers.admission import capacity_check, queue_checks
from mlkube.controllers.manager import ControllerManager
from mlkube.controllers.pipelinerun.controller import node_capacity
from mlkube.controllers.queues import queue_usage
from mlkube.controllers.serving_cluster import SERVING_RESOURCES
from mlkube.install.operator import DEFAULT_NAMESPACE
from mlkube.install.webhook import (
    WEBHOOK_CONFIGURATION,
    WEBHOOK_PORT,
    WEBHOOK_SERVICE,
    WEBHOOK_TLS_SECRET,
)
from mlkube.runtime.kubernetes.cluster_node import cluster_node
from mlkube.scheduling.node_fit import NodeCapacity
from mlkube.scheduling.quota import FlavorResource, ResourceVector
from mlkube.server.admission_webhook import AdmissionWebhookServer
from mlkube.server.context import Admission, ApiContext
from mlkube.server.webhook_tls import (
    ServingTls,
    cert_dir_tls,
    patch_ca_bundle,
    self_signed_tls,
    shared_self_signed_tls,
)
from mlkube.store.base import ResourceStore
from mlkube.store.kube_http import KubeHttp, default_resources
from mlkube.store.kubernetes import KubernetesStore

__all__ = ["Leader", "OperatorWebhook", "WebhookSettings", "cluster_admission", "status_usage"]

log = logging.getLogger("mlkube.webhook")


@dataclass(frozen=True)
class WebhookSettings:
    """How the operator serves its webhook.

    `cert_dir` None: a self-signed certificate for `service`.`namespace`.svc, shared by every
    replica through the Secret `tls_secret` (made by the first one to start), whose CA is
    written into the `caBundle` of the ValidatingWebhookConfiguration named `configuration`.
    A folder: its `tls.crt` / `tls.key` are served as they are (reread when they change) and
    the caBundle is left alone.
    """

    port: int = WEBHOOK_PORT
    host: str = "0.0.0.0"
    cert_dir: Path | None = None
    namespace: str = DEFAULT_NAMESPACE
    service: str = WEBHOOK_SERVICE
    configuration: str = WEBHOOK_CONFIGURATION
    tls_secret: str = WEBHOOK_TLS_SECRET
    # Groups the cluster grows on demand, counted at their max (a standby's capacity view).
    node_groups: tuple[NodeGroupSpec, ...] = ()


Leader = Callable[[], ControllerManager | None]
"""This replica's running controllers, or None where it does not lead (now)."""


def cluster_admission(
    store: ResourceStore, leader: Leader, *, node_groups: Sequence[NodeGroupSpec] = ()
) -> list[Admission]:
    """The embedded API's admission checks, on the capacity and queue usage described in the
    module docstring (but the storage quota's, see there too)."""

    def capacity(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        node = _capacity(store, leader(), node_groups)
        return capacity_check(node)(kind, obj, operation)

    def usage() -> Mapping[str, Mapping[FlavorResource, int]]:
        manager = leader()
        if manager is not None:
            return queue_usage(manager.runs.queue, manager.runs.queue_config())
        return status_usage(store.list(CLUSTER_QUEUE.resource)[0])

    return [capacity, queue_checks(store, usage)]


def _capacity(
    store: ResourceStore, manager: ControllerManager | None, groups: Sequence[NodeGroupSpec]
) -> NodeCapacity:
    if manager is not None:
        return manager.runs.node
    return node_capacity(cluster_node(store.list(NODE.resource)[0], groups=groups))


def status_usage(queues: Iterable[Mapping[str, Any]]) -> dict[str, dict[FlavorResource, int]]:
    """Per ClusterQueue, the usage its `status.flavorsUsage` shows, in the scheduler's units."""
    usage: dict[str, dict[FlavorResource, int]] = {}
    for obj in queues:
        status = ClusterQueueStatus.model_validate(obj.get("status") or {})
        usage[str(obj["metadata"]["name"])] = {
            (flavor.name, resource): amount
            for flavor in status.flavors_usage
            for resource, amount in ResourceVector.of(flavor.resources).items()
        }
    return usage


class OperatorWebhook:
    """The webhook server of one operator process (see the module docstring)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.server: AdmissionWebhookServer | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._store: KubernetesStore | None = None

    @property
    def port(self) -> int:
        """The port served; only after `start`."""
        assert self.server is not None, "the webhook is not started"
        return self.server.port

    def start(self, api_client: ApiClient, *, leader: Leader) -> None:
        """Serve (the checks read the cluster through `api_client`), then publish the CA of a
        self-signed certificate. A caBundle that cannot be written (not installed, no RBAC)
        is logged, not fatal: the controllers still run, and the kube-apiserver refuses our
        kinds' writes (failurePolicy Fail) until it is fixed."""
        tls = self._tls(KubeHttp(api_client))
        resources = {**default_resources(), **SERVING_RESOURCES}
        self._store = KubernetesStore(api_client, resources=resources)
        ctx = ApiContext(
            self._store,
            admission=cluster_admission(self._store, leader, node_groups=self.settings.node_groups),
        )
        self.server = AdmissionWebhookServer(
            ctx, tls, host=self.settings.host, port=self.settings.port
        )
        self.server.start()
        log.info("admission webhook serving HTTPS on :%d", self.server.port)
        if tls.ca_pem is not None:
            self._publish(KubeHttp(api_client), tls.ca_pem)

    def stop(self) -> None:
        """Stop serving; the self-signed key is deleted. Idempotent."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._folder is not None:
            with contextlib.suppress(OSError):
                self._folder.cleanup()
            self._folder = None

    def _tls(self, http: KubeHttp) -> ServingTls:
        if self.settings.cert_dir is not None:
            return cert_dir_tls(self.settings.cert_dir)
        # Not under --data: on a cluster that folder is shared with every step's pod.
        self._folder = tempfile.TemporaryDirectory(prefix="mlkube-webhook-")
        folder, settings = Path(self._folder.name), self.settings
        try:
            return shared_self_signed_tls(
                http,
                folder,
                service=settings.service,
                namespace=settings.namespace,
                secret=settings.tls_secret,
            )
        except (ApiError, ValueError) as err:
            # Serving is better than not: one replica still works with a certificate of its
            # own; several would overwrite each other's caBundle, hence the error.
            log.error(
                "cannot share the webhook certificate through Secret %s/%s (%s); serving one "
                "of this replica's own",
                settings.namespace,
                settings.tls_secret,
                err,
            )
            return self_signed_tls(
                folder / "own", service=settings.service, namespace=settings.namespace
            )

    def _publish(self, http: KubeHttp, ca_pem: bytes) -> None:
        name = self.settings.configuration
        try:
            changed = patch_ca_bundle(http, name, ca_pem)
        except ApiError as err:
            log.error(
                "cannot write the caBundle of ValidatingWebhookConfiguration %s (%s): the "
                "API server will refuse our kinds' writes until it trusts this webhook",
                name,
                err.message,
            )
            return
        log.info("ValidatingWebhookConfiguration %s caBundle %s", name, "set" if changed else "ok")
