"""What the operator's webhook checks against where it does not lead, and its certificates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mlkube.api.kinds import CLUSTER_QUEUE, PIPELINE_RUN
from mlkube.api.nodegroups import parse_node_groups
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.queueing import ClusterQueue
from mlkube.server.operator_webhook import cluster_admission, status_usage
from mlkube.server.webhook_tls import ServingTls, cert_dir_tls, self_signed_tls, service_hosts
from mlkube.testing.memory_store import MemoryStore


def node(name: str, cpu: str, *, ready: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": extra,
        "status": {
            "allocatable": {"cpu": cpu, "memory": "8Gi"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def cluster_queue(nominal_cpu: str, used: dict[str, str] | None = None) -> dict[str, Any]:
    flavors = [{"name": "default", "resources": [{"name": "cpu", "nominalQuota": nominal_cpu}]}]
    obj: dict[str, Any] = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": "team"},
        "spec": {"namespaces": ["team-a"], "resourceGroups": [{"flavors": flavors}]},
    }
    if used is not None:
        obj["status"] = {"flavorsUsage": [{"name": "default", "resources": used}]}
    return obj


def pipeline_run(cpu: str) -> PipelineRun:
    step = {"name": "train", "command": ["true"], "resources": {"cpu": cpu}}
    return PipelineRun.model_validate(
        {
            "metadata": {"name": "r", "namespace": "team-a"},
            "spec": {"pipelineSpec": {"steps": [step]}},
        }
    )


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (None, {}),
        (
            {"cpu": "1500m", "memory": "2Gi"},
            {("default", "cpu"): 1500, ("default", "memory"): 2 << 30},
        ),
        ({"nvidia.com/gpu": "1", "cpu": "0"}, {("default", "nvidia.com/gpu"): 1000}),
    ],
)
def test_usage_is_read_from_the_queues_statuses(
    used: dict[str, str] | None, expected: dict[tuple[str, str], int]
) -> None:
    assert status_usage([cluster_queue("4", used)]) == {"team": expected}


def test_a_standby_sums_the_ready_schedulable_nodes() -> None:
    store = MemoryStore()
    for obj in (
        node("a", "4"),
        node("b", "2"),
        node("down", "64", ready=False),
        node("cordoned", "64", unschedulable=True),
    ):
        store.create("nodes", obj)
    capacity, _ = cluster_admission(store, lambda: None)
    assert capacity(PIPELINE_RUN, pipeline_run("6"), "CREATE") == []
    (cause,) = capacity(PIPELINE_RUN, pipeline_run("7"), "CREATE")
    assert cause.message == "step 'train' requests cpu 7 but node cluster has 6 CPUs"


def test_a_standby_counts_node_groups_at_their_max() -> None:
    store = MemoryStore()
    store.create("nodes", node("a", "4"))
    groups = parse_node_groups(
        "- {name: big, nodeSelector: {pool: big}, template: {cpu: 8, memory: 8Gi}, max: 2}"
    )
    capacity, _ = cluster_admission(store, lambda: None, node_groups=groups)
    assert capacity(PIPELINE_RUN, pipeline_run("20"), "CREATE") == []
    (cause,) = capacity(PIPELINE_RUN, pipeline_run("21"), "CREATE")
    assert cause.message == "step 'train' requests cpu 21 but node cluster has 20 CPUs"


def test_a_standby_refuses_a_quota_below_what_the_status_shows_in_use() -> None:
    store = MemoryStore()
    store.create(CLUSTER_QUEUE.resource, cluster_queue("4"))
    store.update_status(
        CLUSTER_QUEUE.resource,
        {**store.get(CLUSTER_QUEUE.resource, "", "team"), **cluster_queue("4", {"cpu": "3"})},
    )
    _, queues = cluster_admission(store, lambda: None)
    lowered = ClusterQueue.model_validate(cluster_queue("2"))
    (cause,) = queues(CLUSTER_QUEUE, lowered, "UPDATE")
    assert cause.field == "spec.resourceGroups"
    assert cause.message == (
        "queue team: new nominal quota 2 of cpu in flavor default is below the 3 in use; "
        "wait for work to finish or lower it in steps"
    )
    assert queues(CLUSTER_QUEUE, ClusterQueue.model_validate(cluster_queue("3")), "UPDATE") == []


def test_the_self_signed_certificate_names_the_service(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path, service="hook", namespace="ops")
    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(service_hosts("hook", "ops")) <= set(names.get_values_for_type(x509.DNSName))
    assert "hook.ops.svc" in service_hosts("hook", "ops")
    assert tls.ca_pem is not None
    ca = x509.load_pem_x509_certificate(tls.ca_pem)
    assert cert.issuer == ca.subject
    assert oct(tls.key.stat().st_mode & 0o777) == "0o600"


def test_a_cert_dir_without_its_files_is_refused_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no tls\.crt or tls\.key there"):
        cert_dir_tls(tmp_path)
    (tmp_path / "tls.crt").write_text("x")
    with pytest.raises(ValueError, match=r"no tls\.key there"):
        cert_dir_tls(tmp_path)


def test_a_cert_dir_is_served_as_is_and_reread_when_it_changes(tmp_path: Path) -> None:
    made = self_signed_tls(tmp_path / "made", service="hook", namespace="ops")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "tls.crt").write_bytes(made.cert.read_bytes())
    (mounted / "tls.key").write_bytes(made.key.read_bytes())
    tls = cert_dir_tls(mounted)
    assert tls.ca_pem is None  # the caBundle is not ours to write
    first = tls.context()
    assert tls.context() is first
    renewed = self_signed_tls(tmp_path / "renewed", service="hook", namespace="ops")
    (mounted / "tls.crt").write_bytes(renewed.cert.read_bytes())
    (mounted / "tls.key").write_bytes(renewed.key.read_bytes())
    later = os.stat(mounted / "tls.crt").st_mtime_ns + 10**9
    os.utime(mounted / "tls.crt", ns=(later, later))
    assert tls.context() is not first


def test_a_broken_pair_is_an_error_at_once(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    with pytest.raises(OSError):
        ServingTls(tmp_path / "tls.crt", tmp_path / "tls.key")
