"""Worker functions for TrainingJob tests and examples: a rendezvous without torch.

Each is called with string arguments (a `PythonTarget`'s args) and returns the exit code.
They read the distributed environment the platform sets (`RANK`, `WORLD_SIZE`, …) and use
`MLKUBE_JOB_DIR`, the folder every worker of one gang start shares.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ENV_KEYS = (
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "MLKUBE_JOB_NAME",
    "MLKUBE_NAMESPACE",
    "MLKUBE_JOB_DIR",
)


def rendezvous(timeout: str = "60", record: str = "") -> int:
    """Announce this rank in the shared folder, then wait until every rank has: the way a
    process group forms. Exits 0 once all `WORLD_SIZE` ranks are there, 3 on timeout.

    With `record`, also append this worker's environment as a JSON line to that file, so a
    test can see which workers ever ran and with what."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    shared = Path(os.environ["MLKUBE_JOB_DIR"])
    env = {k: os.environ.get(k, "") for k in ENV_KEYS}
    if record:
        with open(record, "a") as out:
            out.write(json.dumps({"pid": os.getpid(), **env}) + "\n")
    (shared / f"rank-{rank}").write_text(json.dumps({"pid": os.getpid(), **env}))
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        present = {p.name for p in shared.glob("rank-*")}
        if len(present) >= world:
            print(f"rank {rank}/{world}: all {world} ranks present", flush=True)
            return 0
        time.sleep(0.02)
    print(f"rank {rank}: only {len(present)} of {world} ranks arrived", flush=True)
    return 3


def fail_rank(bad_rank: str, record: str = "") -> int:
    """Rank `bad_rank` prints a reason and exits 1 at once; the others run until stopped."""
    rank = int(os.environ["RANK"])
    if record:
        with open(record, "a") as out:
            out.write(json.dumps({"pid": os.getpid(), "RANK": str(rank)}) + "\n")
    if rank == int(bad_rank):
        print(f"rank {rank}: loss is NaN, giving up", file=sys.stderr, flush=True)
        return 1
    while True:
        time.sleep(0.05)


def sleep(seconds: str = "30", record: str = "") -> int:
    """Every rank sleeps `seconds`, then exits 0."""
    if record:
        with open(record, "a") as out:
            out.write(json.dumps({"pid": os.getpid(), "RANK": os.environ["RANK"]}) + "\n")
    time.sleep(float(seconds))
    return 0
