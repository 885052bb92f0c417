"""The operator: the same controllers as `mlkube up`, against a kube-apiserver.

    platform = OperatorPlatform(configuration, data_dir=Path("/tmp/mlkube"))
    platform.start()      # store and runtime over the API server, controllers, health server
    ...
    platform.stop()

What it is made of: `KubernetesStore` (our kinds as custom resources, through the official
client), `KubernetesRuntime` (one Pod per step attempt), the `ControllerManager` in cluster
mode (see its docstring for what Kubernetes does instead of us), and a health server:
`GET /healthz` answers 200 while the process runs, as the operator's Deployment probes it
(port 8081); `GET /readyz` is described below.

Leader election (`leader_election=`, as `mlkube operator` runs by default): any number of
replicas may run; the one holding the Lease (`mlkube.server.leader`) runs the controllers,
the others stand by. A leader that loses the Lease stops its controllers and calls
`on_leadership_lost`, after which the process should exit non-zero (`mlkube operator` exits 1)
and restart as a candidate: the controllers never run without the Lease, and never start
again in the same process. `stop()` releases a held Lease after the controllers stopped, so a
standby takes over at its next try. Without `leader_election` the controllers start at once:
then run ONE replica.

`GET /readyz` answers 200 "ok: leading" on the leader, and 200 "ok: standby (leader: NAME)"
on a standby too: a standby is healthy and ready to take over, and nothing routes traffic to
the operator, so it must not hold back a rollout of the Deployment. It answers 503 while
starting, stopping or after losing the Lease (without leader election: 200 "ok" once the
controllers run).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, Configuration

from mlkube.api.clock import Clock, SystemClock
from mlkube.controllers.capacity import CAPACITY_REFRESH_SECONDS
from mlkube.controllers.manager import ControllerManager
from mlkube.controllers.serving_cluster import SERVING_RESOURCES
from mlkube.install.operator import HEALTH_PORT
from mlkube.runtime.kubernetes.pod_metrics import DEFAULT_SAMPLE_SECONDS
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.server.health import health_server
from mlkube.server.leader import KubeLeases, LeaderElection, LeaderElector
from mlkube.server.operator_webhook import OperatorWebhook, WebhookSettings
from mlkube.storage.layout import DataDir
from mlkube.store.kube_http import default_resources
from mlkube.store.kubernetes import KubernetesStore

__all__ = ["OperatorPlatform"]

log = logging.getLogger("mlkube.operator")


class OperatorPlatform:
    """The controllers of one cluster (see the module docstring). `configuration` says how
    to reach the API server; the platform makes and closes its own `ApiClient`s."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        data_dir: Path,
        settings: ClusterSettings | None = None,
        health_host: str = "0.0.0.0",
        health_port: int = HEALTH_PORT,
        clock: Clock | None = None,
        artifact_store_options: Mapping[str, Any] | None = None,
        leader_election: LeaderElection | None = None,
        on_leadership_lost: Callable[[], None] | None = None,
        capacity_refresh_seconds: float = CAPACITY_REFRESH_SECONDS,
        webhook: WebhookSettings | None = None,
        usage_sample_seconds: float = DEFAULT_SAMPLE_SECONDS,
    ) -> None:
        """`artifact_store_options`: fsspec storage options for `settings.artifact_store`
        (default: the AWS environment variables, as the step pods read them).
        `leader_election` and `on_leadership_lost` (called from the election's thread once
        the controllers stopped): see the module docstring. `capacity_refresh_seconds`: how
        often the cluster's Nodes are summed again (`controllers.capacity`). `webhook`: serve
        the validating admission webhook (`server.operator_webhook`) on every replica.
        `usage_sample_seconds`: how often steps' pod metrics are read (`pod_metrics`)."""
        self.configuration = configuration
        self.usage_sample_seconds = usage_sample_seconds
        self.artifact_store_options = artifact_store_options
        self.data = DataDir(data_dir)
        self.settings = settings or ClusterSettings()
        self.clock = clock or SystemClock()
        self.leader_election = leader_election
        self._on_leadership_lost = on_leadership_lost
        self.capacity_refresh_seconds = capacity_refresh_seconds
        # starting → (standby →) leading → stopping, or → lost; under `_lifecycle`.
        self._phase = "starting"
        self._lifecycle = threading.Lock()
        self._elector: LeaderElector | None = None
        self._election_stop = threading.Event()
        self._election_thread: threading.Thread | None = None
        self._clients: list[ApiClient] = []
        self._health = health_server(health_host, health_port, self._readiness)
        self._health_thread: threading.Thread | None = None
        self.manager: ControllerManager | None = None
        self.webhook = None
        if webhook is not None:  # a standby judges capacity as the leader does
            groups = self.settings.node_groups
            self.webhook = OperatorWebhook(dataclasses.replace(webhook, node_groups=groups))

    @property
    def health_port(self) -> int:
        """The health server's port (the one picked when 0 was asked for)."""
        return int(self._health.server_address[1])

    @property
    def leading(self) -> bool:
        """The controllers run (always so once started, without leader election)."""
        return self._phase == "leading"

    @property
    def lost_leadership(self) -> bool:
        """The Lease was lost: the controllers stopped for good; the process should exit."""
        return self._phase == "lost"

    def start(self) -> None:
        """Serve health at once; then start the controllers, at once without leader election,
        else from a background thread once this replica holds the Lease."""
        self._health_thread = threading.Thread(
            target=self._health.serve_forever, name="mlkube-health", daemon=True
        )
        self._health_thread.start()
        self.data.root.mkdir(parents=True, exist_ok=True)
        if self.webhook is not None:
            self.webhook.start(self._client(), leader=lambda: self.manager)
        if self.leader_election is None:
            self._start_controllers()
            return
        election = self.leader_election
        leases = KubeLeases(
            self._client(),
            election.namespace,
            election.lease_name,
            timeout=election.retry_period,
        )
        self._elector = LeaderElector(
            leases, election, clock=self.clock, on_started=self._lead, on_lost=self._lose
        )
        self._phase = "standby"
        self._election_thread = threading.Thread(
            target=self._elector.run,
            args=(self._election_stop,),
            name="mlkube-leader-election",
            daemon=True,
        )
        self._election_thread.start()

    def _lead(self) -> None:
        """The election's thread: start the controllers in another, so renewals go on."""
        threading.Thread(
            target=self._start_leading, name="mlkube-start-controllers", daemon=True
        ).start()

    def _start_leading(self) -> None:
        try:
            self._start_controllers()
        except Exception:  # holding the Lease without controllers helps nobody: give it up
            log.exception("the controllers did not start; giving up the lease")
            if self._elector is not None:
                self._elector.release()
            self._lose()

    def _lose(self) -> None:
        """The Lease is lost: stop the controllers now, for good; then tell the owner."""
        log.error("leadership lost: stopping the controllers")
        with self._lifecycle:
            self._phase = "lost"
            self._stop_controllers()
        if self._on_leadership_lost is not None:
            self._on_leadership_lost()

    def _start_controllers(self) -> None:
        with self._lifecycle:
            if self._phase in ("stopping", "lost"):
                return
            self._phase = "starting"
            self._connect_controllers()
            self._phase = "leading"
        log.info("operator running against %s", self.configuration.host)

    def _connect_controllers(self) -> None:
        # Separate clients: the runtime's pod watch holds a connection open for minutes.
        resources = {**default_resources(), **SERVING_RESOURCES}
        self.store = KubernetesStore(self._client(), resources=resources)
        self.runtime = KubernetesRuntime(
            self._client(), self.settings, sample_seconds=self.usage_sample_seconds
        )
        self.manager = ControllerManager(
            self.store,
            self.runtime,
            data=self.data,
            clock=self.clock,
            cluster=True,
            settings=self.settings,
            artifact_store_options=self.artifact_store_options,
            capacity_refresh_seconds=self.capacity_refresh_seconds,
        )
        self.manager.start()

    def stop(self) -> None:
        """Stop the election, the controllers and the watches, then release a held Lease;
        running pods are left running (a restarted operator adopts them). Idempotent."""
        with self._lifecycle:
            if self._phase != "lost":
                self._phase = "stopping"
        self._election_stop.set()
        if self._election_thread is not None:
            self._election_thread.join(timeout=30)
            self._election_thread = None
        with self._lifecycle:
            self._stop_controllers()
        if self._elector is not None:  # only now: the controllers no longer run
            self._elector.release()
        if self.webhook is not None:
            self.webhook.stop()
        for api_client in self._clients:
            api_client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        if self._health_thread is not None:  # shutdown() waits for a serve_forever loop
            self._health.shutdown()
            self._health_thread = None
        self._health.server_close()

    def _stop_controllers(self) -> None:
        if self.manager is not None:
            self.manager.stop()
            self.manager = None
        if hasattr(self, "runtime"):
            self.runtime.close()
        if hasattr(self, "store"):
            self.store.close()

    def _readiness(self) -> tuple[bool, str]:
        """`/readyz` (see the module docstring)."""
        phase = self._phase
        if phase == "leading":
            return True, "ok: leading" if self.leader_election else "ok"
        if phase == "standby" and self._elector is not None:
            return True, f"ok: standby (leader: {self._elector.holder or 'none yet'})"
        return False, "lost the lease" if phase == "lost" else phase

    def _client(self) -> ApiClient:
        api_client = ApiClient(self.configuration)
        self._clients.append(api_client)
        return api_client
