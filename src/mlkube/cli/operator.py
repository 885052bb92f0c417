"""`mlkube operator`: run the controllers against a Kubernetes cluster, in the foreground.

How the cluster is found, as kubectl finds it: `--kubeconfig FILE` (and `--context`) when
given; else, inside a pod (`KUBERNETES_SERVICE_HOST` set), the pod's service account; else
`$KUBECONFIG` or `~/.kube/config`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from mlkube.cli.common import err, handle_errors
from mlkube.install.operator import DEFAULT_NAMESPACE, HEALTH_PORT
from mlkube.server.operator import OperatorPlatform


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
    help="Step attempt folders (invocations, results, artifacts). Pods must see the same "
    "path: on a real cluster, shared storage.",
)
@handle_errors
def operator(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    health_port: int,
    data_dir: Path,
) -> None:
    """Run mlkube's controllers against a Kubernetes cluster (one replica: no leader election)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    configuration = cluster_configuration(kubeconfig, context)
    platform = OperatorPlatform(configuration, data_dir=data_dir, health_port=health_port)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    platform.start()
    err.print(
        f"mlkube operator ({namespace}) running against {configuration.host}; "
        f"health on :{platform.health_port}",
        highlight=False,
        markup=False,
    )
    try:
        stopping.wait()
    finally:
        platform.stop()
