"""Fixtures: a fake cluster (`mlkube.testing.kube`) and the official client pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from kubernetes import client

from mlkube.testing.kube import FakeKubeCluster, fake_kube_cluster
from tests.integration.platform.conftest import wait_for

__all__ = ["wait_for"]


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeCluster]:
    with fake_kube_cluster(tmp_path) as cluster:
        yield cluster


@pytest.fixture
def api(kube: FakeKubeCluster) -> Iterator[client.ApiClient]:
    with kube.api_client() as api_client:
        yield api_client
        # Drop kept-alive connections before the server stops, so none is left dangling.
        api_client.rest_client.pool_manager.clear()


def container(command: list[str], **extra: Any) -> dict[str, Any]:
    """A container running `command` (the image is ignored by the fake kubelet)."""
    return {"name": "main", "image": "python:3.11", "command": command, **extra}


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """A batch/v1 Job whose pods run `command` once."""
    pod_spec = {"restartPolicy": "Never", "containers": [container(command)]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": pod_spec}, **spec},
    }


def alive(pid: int) -> bool:
    """Whether a process is running (a zombie waiting to be reaped is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pids_in(folder: Path) -> list[int]:
    """The pids that processes wrote as files named `<pid>` into `folder`, still alive."""
    return [int(p.name) for p in folder.iterdir() if alive(int(p.name))] if folder.exists() else []


def record_pid(folder: Path, *, sleep: float = 600) -> list[str]:
    """A command that writes its pid as a file in `folder`, then sleeps."""
    code = (
        f"import os, pathlib, time; d = pathlib.Path({str(folder)!r}); d.mkdir(exist_ok=True); "
        f"(d / str(os.getpid())).touch(); time.sleep({sleep})"
    )
    return python(code)
