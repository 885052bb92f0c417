"""`kill -9` of the platform process leaves no workload process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

TARGETS = str(Path(__file__).with_name("workload_targets.py"))

HOST = """
import json, sys, time
from mlkube.runtime.base import PythonTarget, WorkloadSpec
from mlkube.runtime.local import LocalRuntime

targets, tmp = sys.argv[1], sys.argv[2]
rt = LocalRuntime()
sleeper = PythonTarget(targets, "sleep", ("300",))
grandchild = ("sh", "-c", f"sleep 300 & echo $! > {tmp}/gc.pid; wait")
def spec(i, **kw):
    return WorkloadSpec(i, env={}, cwd=tmp, log_path=f"{tmp}/{i}.log", **kw)
pids = {
    "warm": rt.launch(spec("warm", python=sleeper)),
    "fresh": rt.launch(spec("fresh", python=sleeper, isolation="process")),
    "command": rt.launch(spec("command", command=grandchild)),
    "worker": rt.worker_pid,
}
while True:
    try:
        pids["grandchild"] = int(open(f"{tmp}/gc.pid").read())
        break
    except (OSError, ValueError):
        time.sleep(0.01)
print(json.dumps(pids), flush=True)
time.sleep(300)
"""


def test_sigkill_of_the_host_process_kills_every_workload(tmp_path: Path, eventually, pid_gone):
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, TARGETS, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert host.stdout is not None
        pids = json.loads(host.stdout.readline())
        assert all(not pid_gone(pid) for pid in pids.values()), pids
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        for name, pid in pids.items():
            eventually(lambda pid=pid: pid_gone(pid), timeout=5, what=f"{name} ({pid}) to die")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(timeout=10)
        if host.stdout is not None:
            host.stdout.close()
