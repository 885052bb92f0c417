"""Memory limits that the kernel enforces: one cgroup v1 memory directory per workload.

Layout, under our own memory cgroup (never at the hierarchy root):

    <own cgroup>/mlkube-<runtime pid>-<token>/        one per LocalRuntime, removed on close
        <n>-<workload id>/                            one per workload, removed after its exit
            memory.limit_in_bytes                     the limit
            memory.memsw.limit_in_bytes               the same, so swap cannot stretch it
            cgroup.procs                              the child writes its pid here first

An OOM kill shows as SIGKILL plus a non-zero `oom_kill` count in `memory.oom_control` (kernels
before 4.13 lack the count; there SIGKILL with `memory.failcnt` > 0 counts as OOM).
Directories of a runtime that died without closing are removed by the next one that starts.

Without a usable v1 memory controller, `MemoryCgroups.open` says so (None) and limits fall
back to RLIMIT_AS, or, for GPU workloads, to sampling by the runtime (`plan.py`).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from contextlib import suppress
from dataclasses import dataclass

__all__ = [
    "MemoryCgroups",
    "MountInfo",
    "cgroup_memory_limit",
    "own_cgroup_dir",
    "parse_mountinfo",
    "parse_proc_cgroup",
]

_log = logging.getLogger(__name__)

_V1_LIMIT = "memory.limit_in_bytes"
_V1_MEMSW_LIMIT = "memory.memsw.limit_in_bytes"
_V2_LIMIT = "memory.max"
_PREFIX = "mlkube-"


@dataclass(frozen=True)
class MountInfo:
    """The fields of one `/proc/self/mountinfo` line that locating a cgroup needs."""

    root: str
    mount_point: str
    fstype: str
    super_options: tuple[str, ...]


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """`/proc/<pid>/cgroup` as {controller: path}; the cgroup v2 entry is under key ""."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            paths[controller] = parts[2]
    return paths


def parse_mountinfo(text: str) -> list[MountInfo]:
    """The cgroup and cgroup2 mounts listed in a `/proc/<pid>/mountinfo` text."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or not tail[0].startswith("cgroup"):
            continue
        mount_point = _unescape(fields[4])
        mounts.append(MountInfo(fields[3], mount_point, tail[0], tuple(tail[2].split(","))))
    return mounts


def own_cgroup_dir(proc_cgroup: str, mountinfo: str, *, v2: bool = False) -> str | None:
    """Where our own memory cgroup (v1, or the v2 unified one) is mounted, if visible."""
    path = parse_proc_cgroup(proc_cgroup).get("" if v2 else "memory")
    if path is None:
        return None
    for mount in parse_mountinfo(mountinfo):
        if v2 and mount.fstype != "cgroup2":
            continue
        if not v2 and (mount.fstype != "cgroup" or "memory" not in mount.super_options):
            continue
        rel = os.path.relpath(path, mount.root)
        if rel == ".." or rel.startswith("../"):
            continue
        return os.path.normpath(os.path.join(mount.mount_point, rel))
    return None


def cgroup_memory_limit(*, proc_root: str = "/proc") -> int | None:
    """The tightest memory limit on our cgroup and its ancestors (v1 or v2), None if none."""
    proc_cgroup = _read(os.path.join(proc_root, "self", "cgroup")) or ""
    mountinfo = _read(os.path.join(proc_root, "self", "mountinfo")) or ""
    limits: list[int] = []
    for v2, name in ((False, _V1_LIMIT), (True, _V2_LIMIT)):
        directory = own_cgroup_dir(proc_cgroup, mountinfo, v2=v2)
        while directory and os.path.exists(os.path.join(directory, name)):
            value = (_read(os.path.join(directory, name)) or "").strip()
            if value.isdigit():
                limits.append(int(value))
            parent = os.path.dirname(directory)
            directory = parent if parent != directory else ""
    return min(limits) if limits else None


class MemoryCgroups:
    """Creates, reads and removes per-workload memory cgroups under one base directory.

    Not thread-safe by itself; `LocalRuntime` calls it under its lock or from one thread.
    """

    def __init__(self, parent: str) -> None:
        """Create this runtime's base directory under `parent` (`OSError` if not writable)."""
        _remove_stale(parent)
        self.base = os.path.join(parent, f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}")
        os.mkdir(self.base)
        self._count = 0
        self._leftovers: set[str] = set()

    @classmethod
    def open(cls, cgroup_root: str | None, *, proc_root: str = "/proc") -> MemoryCgroups | None:
        """Memory cgroups per `LocalRuntime(cgroup_root=...)`; None means "use the rlimit".

        None: our own v1 memory cgroup if we may create children there, else None.
        "": None (disabled). A path: that v1 memory cgroup directory, or `ValueError`.
        """
        if cgroup_root == "":
            return None
        if cgroup_root is not None:
            if not os.path.exists(os.path.join(cgroup_root, _V1_LIMIT)):
                raise ValueError(f"cgroup_root {cgroup_root!r} is not a cgroup v1 memory directory")
            return cls(cgroup_root)
        proc_cgroup = _read(os.path.join(proc_root, "self", "cgroup")) or ""
        mountinfo = _read(os.path.join(proc_root, "self", "mountinfo")) or ""
        own = own_cgroup_dir(proc_cgroup, mountinfo)
        if own is None or not os.path.exists(os.path.join(own, _V1_LIMIT)):
            _log.info(
                "no cgroup v1 memory controller; memory limits fall back to RLIMIT_AS "
                "(GPU workloads: sampling)"
            )
            return None
        try:
            return cls(own)
        except OSError as exc:
            _log.info(
                "cannot create memory cgroups under %s (%s); using RLIMIT_AS "
                "(GPU workloads: sampling)",
                own,
                exc,
            )
            return None

    def create(self, workload_id: str, limit_bytes: int) -> str:
        """A new cgroup limited to `limit_bytes` (memory and memory+swap); returns its dir."""
        self._count += 1
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workload_id)[:64]
        directory = os.path.join(self.base, f"{self._count}-{safe}")
        os.mkdir(directory)
        try:
            _write(os.path.join(directory, _V1_LIMIT), str(limit_bytes))
            memsw = os.path.join(directory, _V1_MEMSW_LIMIT)
            if os.path.exists(memsw):  # absent when swap accounting is off
                _write(memsw, str(limit_bytes))
        except OSError:
            self.remove(directory)
            raise
        return directory

    @staticmethod
    def procs_file(directory: str) -> str:
        """The file a process writes its pid to in order to join the cgroup."""
        return os.path.join(directory, "cgroup.procs")

    @staticmethod
    def peak_bytes(directory: str) -> int | None:
        """The cgroup's peak memory charge so far (RSS plus page cache), if readable."""
        value = (_read(os.path.join(directory, "memory.max_usage_in_bytes")) or "").strip()
        return int(value) if value.isdigit() else None

    @staticmethod
    def oom_killed(directory: str, *, sigkilled: bool) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup."""
        fields = dict(
            line.split(None, 1)
            for line in (_read(os.path.join(directory, "memory.oom_control")) or "").splitlines()
            if " " in line
        )
        if "oom_kill" in fields:
            return int(fields["oom_kill"]) > 0
        failcnt = (_read(os.path.join(directory, "memory.failcnt")) or "0").strip()
        return sigkilled and failcnt.isdigit() and int(failcnt) > 0

    def remove(self, directory: str) -> bool:
        """Remove a workload's cgroup, SIGKILLing stragglers; False if it must be retried."""
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError:
            _kill_members(directory)
            self._leftovers.add(directory)
            return False
        self._leftovers.discard(directory)
        return True

    def retry_removals(self) -> None:
        """Try again to remove cgroups whose processes had not all gone yet."""
        for directory in list(self._leftovers):
            self.remove(directory)

    def close(self) -> None:
        """Remove every workload cgroup left and the base directory (best effort)."""
        for entry in _subdirs(self.base):
            self.remove(entry)
        with suppress(OSError):
            os.rmdir(self.base)


def _remove_stale(parent: str) -> None:
    """Remove base directories left by runtimes whose process no longer exists."""
    for base in _subdirs(parent):
        name = os.path.basename(base)
        pid = name[len(_PREFIX) :].split("-", 1)[0]
        if not name.startswith(_PREFIX) or not pid.isdigit() or _alive(int(pid)):
            continue
        for directory in _subdirs(base):
            _kill_members(directory)
            with suppress(OSError):
                os.rmdir(directory)
        with suppress(OSError):
            os.rmdir(base)


def _kill_members(directory: str) -> None:
    # Through a pidfd, after checking membership, so a recycled pid is never signalled.
    for pid_text in (_read(os.path.join(directory, "cgroup.procs")) or "").split():
        with suppress(OSError):
            pidfd = os.pidfd_open(int(pid_text))
            try:
                cgroups = _read(f"/proc/{pid_text}/cgroup") or ""
                if _tail(directory) in cgroups:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            finally:
                os.close(pidfd)


def _tail(directory: str) -> str:
    # "<runtime base>/<workload dir>": unique, as the base name carries a random token.
    return "/" + "/".join(directory.rstrip("/").split("/")[-2:]) + "\n"


def _subdirs(directory: str) -> list[str]:
    try:
        return [e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return field.encode().decode("unicode_escape") if "\\" in field else field
