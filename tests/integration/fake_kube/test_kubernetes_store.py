"""`KubernetesStore` (what the operator will use) against the fake kube-apiserver: the store
contract tests that `tests/integration/kube/test_kubernetes_store.py` runs against the
embedded API run here unchanged, on our CRD kinds and the built-in Namespace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from mlkube.api.errors import Invalid
from mlkube.store.kubernetes import KubernetesStore
from mlkube.testing.kube import FakeKubeCluster
from tests.contract import test_store_contract as contract
from tests.contract.test_store_contract import NAMESPACES, PIPELINES, pipeline
from tests.integration.kube.test_kubernetes_store import REUSED

# The same contract tests as against the embedded API (their reasons for leaving the others
# out hold here too: a shared server, status as a subresource, no fake clock).
for _name in sorted(REUSED):
    globals()[_name] = getattr(contract, _name)


@pytest.fixture
def store(api: client.ApiClient) -> Iterator[KubernetesStore]:
    s = KubernetesStore(api, poll_interval=0.1)
    for ns in ("team-a", "team-b", "team-c"):
        s.create(NAMESPACES, {"metadata": {"name": ns}})
    yield s
    s.close()


@pytest.fixture
def head(store: KubernetesStore) -> int:
    return store.current_resource_version()


def test_crd_objects_are_validated_by_our_models(store: KubernetesStore) -> None:
    bad = pipeline("bad")
    bad["spec"]["steps"][0]["cpu"] = "lots"
    with pytest.raises(Invalid) as caught:
        store.create(PIPELINES, bad)
    assert [c.field for c in caught.value.causes] == ["spec.steps[0].cpu"]
    assert store.list(PIPELINES, "team-a")[0] == []


def test_crd_objects_are_visible_to_the_official_client(
    store: KubernetesStore, api: client.ApiClient, kube: FakeKubeCluster
) -> None:
    created = store.create(PIPELINES, pipeline("shared"))
    custom = client.CustomObjectsApi(api)
    got = custom.get_namespaced_custom_object(
        "mlkube.io", "v1alpha1", "team-a", "pipelines", "shared"
    )
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = custom.list_cluster_custom_object("mlkube.io", "v1alpha1", "pipelines")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["shared"]
