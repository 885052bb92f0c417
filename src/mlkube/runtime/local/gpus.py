"""Find the node's GPUs, and say which ones a workload may see.

Detection, each source optional and tried in turn:
- NVIDIA through NVML (`pynvml`, from the `nvidia-ml-py` package) when it imports and
  initializes;
- AMD through `amdsmi` when it imports and initializes, else from sysfs: every
  `/sys/class/drm/card<N>/device` whose `vendor` is `0x1002`, in card order, with the model
  from `product_name` (or the PCI device id) and the memory from `mem_info_vram_total`.

Visibility is by environment variables, the mechanism every CUDA / ROCm runtime honours:
NVIDIA devices through `CUDA_VISIBLE_DEVICES` (UUIDs when known, else indices, with
`CUDA_DEVICE_ORDER=PCI_BUS_ID` so indices mean what NVML means); AMD devices through
`ROCR_VISIBLE_DEVICES` (physical indices) and `HIP_VISIBLE_DEVICES` (0..n-1, because HIP
numbers devices *after* ROCr has filtered them). A workload granted no GPU of a vendor gets an
empty list for that vendor, so it cannot grab one by default.

A device shared by several workloads (each granted a fraction of it) is exposed to each of them
the same way; the share itself is the controller's business (it tells the step through
`MLKUBE_GPU_FRACTION`) and is not enforced here: like NVIDIA time-slicing, sharing isolates
neither memory nor compute.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Sequence
from types import ModuleType

from mlkube.runtime.base import GpuDevice

__all__ = ["amdsmi_gpus", "detect_gpus", "gpu_env", "nvml_gpus", "sysfs_amd_gpus"]

_log = logging.getLogger(__name__)

_AMD_PCI_VENDOR = "0x1002"
_CARD = re.compile(r"card(\d+)")


def detect_gpus(*, sysfs_root: str = "/sys") -> tuple[GpuDevice, ...]:
    """Every GPU found on this node: NVIDIA (NVML) first, then AMD (amdsmi, else sysfs)."""
    amd = amdsmi_gpus()
    if amd is None:
        amd = sysfs_amd_gpus(sysfs_root)
    return tuple(nvml_gpus() + amd)


def gpu_env(gpus: Sequence[GpuDevice]) -> dict[str, str | None]:
    """Environment settings that expose exactly `gpus`; None means "remove the variable"."""
    nvidia = [g for g in gpus if g.vendor == "nvidia"]
    amd = [g for g in gpus if g.vendor == "amd"]
    env: dict[str, str | None] = {
        "CUDA_VISIBLE_DEVICES": ",".join(g.uuid or str(g.index) for g in nvidia),
        "HIP_VISIBLE_DEVICES": ",".join(str(i) for i in range(len(amd))),
        "ROCR_VISIBLE_DEVICES": ",".join(str(g.index) for g in amd) if amd else None,
    }
    if nvidia:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


def nvml_gpus() -> list[GpuDevice]:
    """NVIDIA GPUs through NVML; empty when `pynvml` is missing or NVML will not start."""
    pynvml = _optional_module("pynvml")
    if pynvml is None:
        return []
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        _log.debug("NVML did not initialize: %s", exc)
        return []
    try:
        return [_nvml_device(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception as exc:
        _log.warning("NVML failed while listing GPUs: %s", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


def _nvml_device(pynvml: ModuleType, index: int) -> GpuDevice:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return GpuDevice(
        index=index,
        vendor="nvidia",
        model=_text(pynvml.nvmlDeviceGetName(handle)),
        memory_bytes=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
    )


def amdsmi_gpus() -> list[GpuDevice] | None:
    """AMD GPUs through `amdsmi`; None when it is missing or will not start (use sysfs)."""
    amdsmi = _optional_module("amdsmi")
    if amdsmi is None:
        return None
    try:
        amdsmi.amdsmi_init()
    except Exception as exc:
        _log.debug("amdsmi did not initialize: %s", exc)
        return None
    try:
        handles = amdsmi.amdsmi_get_processor_handles()
        return [_amdsmi_device(amdsmi, i, h) for i, h in enumerate(handles)]
    except Exception as exc:
        _log.warning("amdsmi failed while listing GPUs: %s; trying sysfs", exc)
        return None
    finally:
        amdsmi.amdsmi_shut_down()


def _amdsmi_device(amdsmi: ModuleType, index: int, handle: object) -> GpuDevice:
    asic = amdsmi.amdsmi_get_gpu_asic_info(handle)
    memory = amdsmi.amdsmi_get_gpu_memory_total(handle, amdsmi.AmdSmiMemoryType.VRAM)
    return GpuDevice(
        index=index,
        vendor="amd",
        model=str(asic.get("market_name") or f"AMD GPU {asic.get('device_id', '')}").strip(),
        memory_bytes=int(memory),
        uuid=_text(amdsmi.amdsmi_get_gpu_device_uuid(handle)),
    )


def sysfs_amd_gpus(sysfs_root: str = "/sys") -> list[GpuDevice]:
    """AMD GPUs from `<sysfs_root>/class/drm/card<N>/device`, indexed in card order."""
    drm = os.path.join(sysfs_root, "class", "drm")
    try:
        names = [n for n in os.listdir(drm) if _CARD.fullmatch(n)]
    except OSError:
        return []
    gpus: list[GpuDevice] = []
    for name in sorted(names, key=lambda n: int(n[4:])):
        device = os.path.join(drm, name, "device")
        if _read(device, "vendor").lower() != _AMD_PCI_VENDOR:
            continue
        model = _read(device, "product_name") or f"AMD GPU {_read(device, 'device')}".strip()
        vram = _read(device, "mem_info_vram_total")
        gpus.append(
            GpuDevice(
                index=len(gpus),
                vendor="amd",
                model=model,
                memory_bytes=int(vram) if vram.isdigit() else 0,
                uuid=_read(device, "unique_id"),
            )
        )
    return gpus


def _optional_module(name: str) -> ModuleType | None:
    # GPU libraries are optional extras: absent means "no GPUs of that kind found".
    try:
        return importlib.import_module(name)
    except ImportError:
        _log.debug("%s is not installed; skipping that GPU source", name)
        return None


def _read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
