"""GPU discovery from a fake sysfs tree, and the visibility environment."""

from __future__ import annotations

from pathlib import Path

from mlkube.runtime.base import GpuDevice
from mlkube.runtime.local.gpus import gpu_env, sysfs_amd_gpus


def _card(root: Path, name: str, **files: str) -> None:
    device = root / "class" / "drm" / name / "device"
    device.mkdir(parents=True)
    for file, text in files.items():
        (device / file).write_text(text + "\n")


def test_sysfs_lists_amd_cards_in_card_order(tmp_path):
    _card(tmp_path, "card10", vendor="0x1002", device="0x74a1", mem_info_vram_total=str(192 << 30))
    _card(
        tmp_path,
        "card2",
        vendor="0x1002",
        device="0x740f",
        product_name="AMD Instinct MI210",
        mem_info_vram_total=str(64 << 30),
        unique_id="abcd1234",
    )
    _card(tmp_path, "card0", vendor="0x8086", device="0x56a0")  # Intel: not ours
    (tmp_path / "class" / "drm" / "card2-DP-1").mkdir()  # a connector, not a card
    (tmp_path / "class" / "drm" / "renderD128").mkdir()

    assert sysfs_amd_gpus(str(tmp_path)) == [
        GpuDevice(0, "amd", "AMD Instinct MI210", 64 << 30, "abcd1234"),
        GpuDevice(1, "amd", "AMD GPU 0x74a1", 192 << 30, ""),
    ]


def test_sysfs_without_drm_has_no_gpus(tmp_path):
    assert sysfs_amd_gpus(str(tmp_path)) == []


def test_sysfs_tolerates_unreadable_memory(tmp_path):
    _card(tmp_path, "card0", vendor="0x1002", device="0x1", mem_info_vram_total="garbage")
    assert sysfs_amd_gpus(str(tmp_path))[0].memory_bytes == 0


NV = [GpuDevice(i, "nvidia", "H100", 80 << 30, f"GPU-{i}") for i in range(4)]
AMD = [GpuDevice(i, "amd", "MI300X", 192 << 30) for i in range(4)]


def test_no_gpus_hides_every_device():
    assert gpu_env([]) == {
        "CUDA_VISIBLE_DEVICES": "",
        "HIP_VISIBLE_DEVICES": "",
        "ROCR_VISIBLE_DEVICES": None,
    }


def test_nvidia_devices_by_uuid_else_index():
    granted = [NV[2], GpuDevice(3, "nvidia", "H100", 80 << 30)]
    assert gpu_env(granted) == {
        "CUDA_VISIBLE_DEVICES": "GPU-2,3",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "HIP_VISIBLE_DEVICES": "",
        "ROCR_VISIBLE_DEVICES": None,
    }


def test_amd_devices_filtered_by_rocr_then_renumbered_for_hip():
    assert gpu_env([AMD[1], AMD[3]]) == {
        "CUDA_VISIBLE_DEVICES": "",
        "HIP_VISIBLE_DEVICES": "0,1",
        "ROCR_VISIBLE_DEVICES": "1,3",
    }


def test_mixed_node():
    env = gpu_env([NV[0], AMD[2]])
    assert (
        env["CUDA_VISIBLE_DEVICES"],
        env["ROCR_VISIBLE_DEVICES"],
        env["HIP_VISIBLE_DEVICES"],
    ) == (
        "GPU-0",
        "2",
        "0",
    )
