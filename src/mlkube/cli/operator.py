"""`mlkube operator`: run the controllers against a Kubernetes cluster, in the foreground.

How the cluster is found, as kubectl finds it: `--kubeconfig FILE` (and `--context`) when
given; else, inside a pod (`KUBERNETES_SERVICE_HOST` set), the pod's service account; else
`$KUBECONFIG` or `~/.kube/config`.

Leader election is on by default: every replica competes for the Lease `--lease-name` in the
operator's namespace (`--namespace`), and only the holder runs the controllers (see
`mlkube.server.operator`). A replica's identity is its pod's name (`$POD_NAME`, from the
downward API in the Deployment), else the host name, plus a random suffix so a restarted pod
is a new candidate. A replica that loses the Lease exits 1, so Kubernetes restarts it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path
from types import FrameType

import click
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from mlkube.cli.cluster_options import cluster_settings_options
from mlkube.cli.common import err, handle_errors
from mlkube.cli.webhook_options import webhook_options
from mlkube.install.operator import DEFAULT_NAMESPACE, HEALTH_PORT
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.server.leader import DEFAULT_LEASE_NAME, LeaderElection
from mlkube.server.operator import OperatorPlatform
from mlkube.server.operator_webhook import WebhookSettings


def cluster_configuration(kubeconfig: Path | None, context: str | None) -> client.Configuration:
    """The official client's `Configuration` for the cluster (see the module docstring).
    Raises `click.UsageError` naming what is missing or wrong."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None,
                context=context,
                client_configuration=configuration,
            )
    except (ConfigException, OSError) as e:
        where = f"--kubeconfig {kubeconfig}" if kubeconfig else "the kubeconfig"
        raise click.UsageError(f"cannot use {where}: {e}") from None
    return configuration


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig to use (default: in-cluster, else $KUBECONFIG or ~/.kube/config).",
)
@click.option("--context", default=None, help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="The operator's own namespace ($POD_NAMESPACE in its pod). Workloads run in the "
    "namespaces of their runs.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=HEALTH_PORT,
    show_default=True,
    help="Port of /healthz and /readyz (0: any free port).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/mlkube"),
    show_default=True,
    help="Step attempt folders: logs, and without --artifact-store also invocations, results "
    "and artifacts, which pods must then see at the same path (shared storage).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=True,
    show_default=True,
    help="Run the controllers only while holding the leader-election Lease, so that several "
    "replicas may run (--no-leader-elect: run exactly one).",
)
@click.option(
    "--lease-name",
    default=DEFAULT_LEASE_NAME,
    show_default=True,
    help="Name of the leader-election Lease, in the operator's namespace.",
)
@webhook_options
@cluster_settings_options
@handle_errors
def operator(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    health_port: int,
    data_dir: Path,
    leader_elect: bool,
    lease_name: str,
    webhook: WebhookSettings | None,
    settings: ClusterSettings,
) -> None:
    """Run mlkube's controllers against a Kubernetes cluster (the replica holding the
    leader-election Lease runs them; the others stand by)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    configuration = cluster_configuration(kubeconfig, context)
    election = _election(namespace, lease_name) if leader_elect else None
    stopping = threading.Event()
    platform = OperatorPlatform(
        configuration,
        data_dir=data_dir,
        health_port=health_port,
        leader_election=election,
        on_leadership_lost=stopping.set,
        webhook=webhook,
        settings=settings,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    platform.start()
    role = f"candidate {election.identity} for lease {lease_name}" if election else "no election"
    err.print(
        f"mlkube operator ({namespace}) running against {configuration.host}; "
        f"health on :{platform.health_port}; {role}",
        highlight=False,
        markup=False,
    )
    try:
        stopping.wait()
    finally:
        platform.stop()
    if platform.lost_leadership:
        err.print("error: lost the leader-election lease; exiting", highlight=False)
        sys.exit(1)


def _election(namespace: str, lease_name: str) -> LeaderElection:
    """This replica's candidacy; a bad --lease-name or --namespace is a usage error."""
    name = os.environ.get("POD_NAME") or socket.gethostname()
    try:
        return LeaderElection(
            identity=f"{name}_{uuid.uuid4().hex[:8]}", namespace=namespace, lease_name=lease_name
        )
    except ValueError as e:
        raise click.UsageError(f"leader election: {e}") from None
