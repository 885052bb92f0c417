"""On a GPU machine: an InferenceService whose replica asks for `nvidia.com/gpu: 1` serves a
TorchScript model on that GPU, through the router, over the Open Inference Protocol.

Passes when the outputs match the model's own, the replica's CUDA_VISIBLE_DEVICES names a GPU,
and NVML lists the replica among the processes holding a CUDA context (so the model really runs
there, not on the CPU beside a visible GPU).

Run with mlkube importable (PYTHONPATH=src) and torch installed; prints one PASS/FAIL line.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pynvml
import torch

from mlkube.api.meta import GROUP_VERSION
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="mlkube-gpu-serving-"))
    torch.manual_seed(0)
    model = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()))
    model.save(str(work / "model.pt"))
    rows = torch.randn(3, 4)
    expected = model(rows).detach().numpy()
    platform = EmbeddedPlatform(work / "data", port=0)
    platform.start()
    try:
        client = Client(platform.url, platform.admin_token(), ca_data=platform.ca_pem)
        client.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "InferenceService",
                "metadata": {"name": "torch-gpu", "namespace": "default"},
                "spec": {
                    "predictor": {
                        "model": {
                            "modelFormat": {"name": "pytorch"},
                            "storageUri": str(work / "model.pt"),
                        },
                        "resources": {"nvidia.com/gpu": 1},
                    }
                },
            }
        )
        status = _wait_ready(client)
        url = status["url"]
        body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [3, 4],
                    "datatype": "FP32",
                    "data": rows.ravel().tolist(),
                }
            ]
        }
        began = time.perf_counter()
        response = httpx.post(f"{url}/v2/models/torch-gpu/infer", json=body, timeout=60)
        took = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        out = response.json()["outputs"][0]
        got = torch.tensor(out["data"]).reshape(out["shape"]).numpy()
        close = bool(abs(got - expected).max() < 1e-4)
        replica = _replica(work)
        visible = _visible_gpus(replica)
        on_gpu = replica is not None and replica.pid in _cuda_pids()
        ok = close and visible.startswith("GPU-") and on_gpu
        print(
            f"(h) GPU replica serves a TorchScript model  {'PASS' if ok else 'FAIL'}  "
            f"CUDA_VISIBLE_DEVICES={visible} CUDA context={on_gpu} outputs match={close} "
            f"({took:.1f} ms)"
        )
        if not ok:
            log = next((work / "data" / "serving").rglob("log"), None)
            print(log.read_text()[-2000:] if log is not None else "(no replica log)")
        return 0 if ok else 1
    finally:
        platform.stop()


def _wait_ready(client: Client) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = client.get("inferenceservices", "torch-gpu").get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        if ready.get("status") == "True":
            return status
        if ready.get("reason") in ("ReplicaFailed", "Unschedulable", "ModelNotFound"):
            raise SystemExit(f"(h) GPU replica  FAIL  {ready['reason']}: {ready.get('message')}")
        time.sleep(0.2)
    raise SystemExit("(h) GPU replica  FAIL  not ready within 90 s")


def _replica(work: Path) -> psutil.Process | None:
    """The replica process serving the model saved under `work` (found by its command line)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "mlkube.serving.replica" in cmdline and str(work) in " ".join(cmdline):
            return proc
    return None


def _visible_gpus(replica: psutil.Process | None) -> str:
    """The replica's CUDA_VISIBLE_DEVICES, read from /proc."""
    if replica is None:
        return "<no replica process>"
    return str(replica.environ().get("CUDA_VISIBLE_DEVICES", "<unset>"))


def _cuda_pids() -> set[int]:
    """The processes holding a CUDA context on any GPU, as NVML lists them."""
    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(count)]
        return {p.pid for h in handles for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h)}
    finally:
        pynvml.nvmlShutdown()


if __name__ == "__main__":
    sys.exit(main())
