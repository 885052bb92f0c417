"""The fake cluster's public names are listed in `__all__` and are the real objects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mlkube.testing.kube as kube
from mlkube.testing.kube import cluster, scheduling, server


def test_exported_names() -> None:
    assert kube.__all__ == [
        "CONTROLLERS",
        "FakeKubeApiServer",
        "FakeKubeCluster",
        "FakeNode",
        "fake_kube_cluster",
        "kubeconfig",
    ]
    assert kube.FakeKubeCluster is cluster.FakeKubeCluster
    assert kube.FakeNode is scheduling.FakeNode
    assert kube.FakeKubeApiServer is server.FakeKubeApiServer


def test_unknown_controllers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("unknown controllers ['hpa']")):
        kube.FakeKubeCluster(tmp_path, controllers=["kubelet", "hpa"])


def test_the_kubeconfig_names_the_server_without_credentials() -> None:
    config = kube.kubeconfig("http://127.0.0.1:1234")
    [entry] = config["clusters"]
    assert entry["cluster"] == {"server": "http://127.0.0.1:1234"}
    assert config["users"] == [{"name": "fake-admin", "user": {}}]
    assert config["current-context"] == "fake"
