"""Locating our memory cgroup and reading its counters, on fake /proc and cgroupfs trees."""

from __future__ import annotations

from pathlib import Path

from mlkube.runtime.local.cgroups import (
    MemoryCgroups,
    cgroup_memory_limit,
    own_cgroup_dir,
    parse_mountinfo,
    parse_proc_cgroup,
)

PROC_CGROUP_V1 = """\
9:name=systemd:/
4:memory:/process_api/e157
3:cpu,cpuacct:/process_api/e157
0::/
"""

MOUNTINFO = """\
25 1 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:27 / {root}/cgroup/memory rw,nosuid,nodev - cgroup cgroup rw,memory
32 25 0:28 / {root}/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct
33 25 0:29 / {root}/cgroup/unified rw - cgroup2 cgroup2 rw
"""


def test_parse_proc_cgroup():
    assert parse_proc_cgroup(PROC_CGROUP_V1) == {
        "name=systemd": "/",
        "memory": "/process_api/e157",
        "cpu": "/process_api/e157",
        "cpuacct": "/process_api/e157",
        "": "/",
    }


def test_parse_mountinfo_keeps_cgroup_mounts_and_unescapes():
    mounts = parse_mountinfo(MOUNTINFO.format(root="/r"))
    assert [(m.mount_point, m.fstype) for m in mounts] == [
        ("/r/cgroup/memory", "cgroup"),
        ("/r/cgroup/cpu acct", "cgroup"),
        ("/r/cgroup/unified", "cgroup2"),
    ]
    assert "memory" in mounts[0].super_options


def test_own_cgroup_dir_v1_and_v2():
    mountinfo = MOUNTINFO.format(root="/r")
    assert own_cgroup_dir(PROC_CGROUP_V1, mountinfo) == "/r/cgroup/memory/process_api/e157"
    assert own_cgroup_dir(PROC_CGROUP_V1, mountinfo, v2=True) == "/r/cgroup/unified"


def test_own_cgroup_dir_inside_a_container_mount():
    # A container sees only its own subtree, mounted with that subtree as root.
    mountinfo = "40 30 0:27 /kubepods/pod1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    proc = "4:memory:/kubepods/pod1/ctr\n"
    assert own_cgroup_dir(proc, mountinfo) == "/sys/fs/cgroup/memory/ctr"
    assert own_cgroup_dir("4:memory:/elsewhere\n", mountinfo) is None
    assert own_cgroup_dir("", mountinfo) is None


def _fake_proc(tmp_path: Path, proc_cgroup: str) -> Path:
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(proc_cgroup)
    (proc / "mountinfo").write_text(MOUNTINFO.format(root=tmp_path))
    return tmp_path / "proc"


def test_memory_limit_is_the_tightest_along_the_path(tmp_path):
    proc = _fake_proc(tmp_path, PROC_CGROUP_V1)
    memory = tmp_path / "cgroup" / "memory"
    (memory / "process_api" / "e157").mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (memory / "process_api" / "memory.limit_in_bytes").write_text(f"{8 << 30}\n")
    (memory / "process_api" / "e157" / "memory.limit_in_bytes").write_text(f"{16 << 30}\n")
    assert cgroup_memory_limit(proc_root=str(proc)) == 8 << 30


def test_memory_limit_v2(tmp_path):
    proc = _fake_proc(tmp_path, "0::/app\n")
    app = tmp_path / "cgroup" / "unified" / "app"
    app.mkdir(parents=True)
    (app / "memory.max").write_text(f"{2 << 30}\n")
    (app.parent / "memory.max").write_text("max\n")
    assert cgroup_memory_limit(proc_root=str(proc)) == 2 << 30


def test_no_limit_when_nothing_is_mounted(tmp_path):
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    assert cgroup_memory_limit(proc_root=str(tmp_path / "proc")) is None


def test_oom_evidence(tmp_path):
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (tmp_path / "memory.failcnt").write_text("0\n")
    assert MemoryCgroups.oom_killed(str(tmp_path), sigkilled=True)
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not MemoryCgroups.oom_killed(str(tmp_path), sigkilled=True)


def test_oom_evidence_on_kernels_without_the_oom_kill_count(tmp_path):
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    (tmp_path / "memory.failcnt").write_text("12\n")
    assert MemoryCgroups.oom_killed(str(tmp_path), sigkilled=True)
    assert not MemoryCgroups.oom_killed(str(tmp_path), sigkilled=False)


def test_peak(tmp_path):
    assert MemoryCgroups.peak_bytes(str(tmp_path)) is None
    (tmp_path / "memory.max_usage_in_bytes").write_text("1234\n")
    assert MemoryCgroups.peak_bytes(str(tmp_path)) == 1234


def test_disabled_and_invalid_roots(tmp_path):
    assert MemoryCgroups.open("") is None
    import pytest

    with pytest.raises(ValueError, match="not a cgroup v1 memory directory"):
        MemoryCgroups.open(str(tmp_path))
