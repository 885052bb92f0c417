"""Step and worker logs:

    GET .../pipelineruns/RUN/log?step=S[&attempt=N][&follow=true][&tailLines=N]
    GET .../trainingjobs/JOB/log[?worker=K][&start=N][&follow=true][&tailLines=N]

The bytes come from the file the `log_source` (a step's) or `job_log_source` (a worker's) names.
With `follow`, the stream keeps sending what is appended until that step attempt, or that
worker's start, is over, which the object's status tells: the step has left
Pending/Waiting/Running/Retrying, a later attempt has started, or the run is gone; the worker
has left Pending/Running, the gang has started again, the job is over or gone. Attempts and
starts are numbered from 1, as `status.steps[].attempts` and `status.starts` count them. A
job's worker defaults to 0 and its start to the latest, as `kubectl logs` picks a pod's first
container.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from mlkube.api.errors import BadRequest, NotFound
from mlkube.api.kinds import TRAINING_JOB
from mlkube.api.pipelinerun import FINISHED_RUN_PHASES
from mlkube.api.trainingjob import FINISHED_JOB_PHASES
from mlkube.server.context import ApiContext
from mlkube.server.params import parse_bool, parse_int
from mlkube.server.routing import ResourcePath

ACTIVE_STEP_PHASES = frozenset({"Pending", "Waiting", "Running", "Retrying"})
ACTIVE_WORKER_PHASES = frozenset({"Pending", "Running"})
CHUNK = 64 * 1024
FOLLOW_POLL_SECONDS = 0.1


async def logs(ctx: ApiContext, request: Request, target: ResourcePath) -> StreamingResponse:
    """Stream one step attempt's log as `text/plain` (attempt absent: the latest), or one
    TrainingJob worker's."""
    assert target.name is not None and target.namespace is not None, "routing gives both"
    if target.kind is TRAINING_JOB:
        return await worker_logs(ctx, request, target)
    namespace, name, params = target.namespace, target.name, request.query_params
    # Store and file calls are direct: sub-millisecond local reads (see `writes`).
    run = ctx.store.get(target.kind.resource, namespace, name)
    step = choose_step(run, params.get("step") or None)
    attempt = parse_int(params, "attempt", minimum=1)
    follow = parse_bool(params, "follow")
    tail_lines = parse_int(params, "tailLines")
    path = ctx.log_source(namespace, name, step, attempt) if ctx.log_source else None
    if path is None or not (follow or path.exists()):
        which = f"attempt {attempt} of step" if attempt else "step"
        raise NotFound(f'no log for {which} "{step}" of pipelinerun "{name}"', name=name)
    following = attempt_to_follow(run, step, attempt)

    def finished() -> bool:
        return attempt_finished(_run_or_none(ctx, target), step, following)

    chunks = log_chunks(path, tail_lines=tail_lines, follow=follow, finished=finished)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


async def worker_logs(ctx: ApiContext, request: Request, target: ResourcePath) -> StreamingResponse:
    """Stream one TrainingJob worker's log of one start (default: worker 0, latest start)."""
    assert target.name is not None and target.namespace is not None, "routing gives both"
    namespace, name, params = target.namespace, target.name, request.query_params
    job = ctx.store.get(target.kind.resource, namespace, name)
    worker = choose_worker(job, parse_int(params, "worker"))
    start = parse_int(params, "start", minimum=1) or max(_starts(job), 1)
    follow = parse_bool(params, "follow")
    tail_lines = parse_int(params, "tailLines")
    path = ctx.job_log_source(namespace, name, start, worker) if ctx.job_log_source else None
    if path is None or not (follow or path.exists()):
        raise NotFound(
            f'no log for worker {worker} in start {start} of trainingjob "{name}"', name=name
        )

    def finished() -> bool:
        return worker_finished(_run_or_none(ctx, target), worker, start)

    chunks = log_chunks(path, tail_lines=tail_lines, follow=follow, finished=finished)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


def _starts(job: Mapping[str, Any]) -> int:
    return int((job.get("status") or {}).get("starts") or 0)


def choose_worker(job: Mapping[str, Any], worker: int | None) -> int:
    """The worker whose log is asked for (default 0); it must be one of the job's."""
    count = int((job.get("spec") or {}).get("workers") or 1)
    chosen = 0 if worker is None else worker
    if chosen >= count:
        name = job["metadata"]["name"]
        raise NotFound(
            f'trainingjob "{name}" has no worker {chosen} (workers: 0 to {count - 1})', name=name
        )
    return chosen


def worker_finished(job: Mapping[str, Any] | None, worker: int, start: int) -> bool:
    """Whether `worker`'s log of `start` can no longer grow (`job` None: it is gone)."""
    if job is None:
        return True
    status = job.get("status") or {}
    if _starts(job) > start or status.get("phase") in FINISHED_JOB_PHASES:
        return True
    if _starts(job) < start:
        return False  # that start has not begun
    workers = status.get("workers") or []
    mine: Mapping[str, Any] = next((w for w in workers if w.get("rank") == worker), {})
    return mine.get("phase", "Pending") not in ACTIVE_WORKER_PHASES


def step_names(run: Mapping[str, Any]) -> list[str]:
    """The steps a run has, as far as it is known (status first, then inline specs)."""
    status = run.get("status") or {}
    specs = [(run.get("spec") or {}).get("pipelineSpec"), status.get("pipelineSpec")]
    steps = list(status.get("steps") or [])
    steps += [s for spec in specs for s in (spec or {}).get("steps") or []]
    return list(dict.fromkeys(s["name"] for s in steps if isinstance(s.get("name"), str)))


def choose_step(run: Mapping[str, Any], step: str | None) -> str:
    """The step whose log is asked for; optional only when the run has exactly one step."""
    names = step_names(run)
    name = run["metadata"]["name"]
    if step is not None:
        if names and step not in names:
            raise NotFound(f'pipelinerun "{name}" has no step "{step}" (steps: {", ".join(names)})')
        return step
    if len(names) == 1:
        return names[0]
    choices = f"choose one of: {', '.join(names)}" if names else "its steps are not known yet"
    raise BadRequest(f'a step name must be given for pipelinerun "{name}" (?step=...); {choices}')


def _step_status(run: Mapping[str, Any], step: str) -> Mapping[str, Any] | None:
    steps = (run.get("status") or {}).get("steps") or []
    return next((s for s in steps if s.get("name") == step), None)


def attempt_to_follow(run: Mapping[str, Any], step: str, attempt: int | None) -> int:
    """The attempt a follow watches: the one asked for, else the latest (1 if none started)."""
    if attempt is not None:
        return attempt
    status = _step_status(run, step) or {}
    return max(int(status.get("attempts") or 0), 1)


def attempt_finished(run: Mapping[str, Any] | None, step: str, attempt: int) -> bool:
    """Whether the log of `attempt` of `step` can no longer grow (`run` None: it is gone)."""
    if run is None:
        return True
    status = _step_status(run, step)
    if status is None:  # not started: it never will if the run is over
        return (run.get("status") or {}).get("phase") in FINISHED_RUN_PHASES
    if int(status.get("attempts") or 0) > attempt:
        return True
    return status.get("phase") not in ACTIVE_STEP_PHASES


def _run_or_none(ctx: ApiContext, target: ResourcePath) -> dict[str, Any] | None:
    assert target.name is not None and target.namespace is not None
    try:
        return ctx.store.get(target.kind.resource, target.namespace, target.name)
    except NotFound:
        return None


def tail_offset(handle: IO[bytes], lines: int, *, block: int = CHUNK) -> int:
    """The offset where the last `lines` lines of the file start (a final newline ends the
    last line, it does not start a new one). Reads backwards, so huge logs cost little."""
    end = handle.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    if end:
        handle.seek(end - 1)
    needed = lines + 1 if end and handle.read(1) == b"\n" else lines
    found, position = 0, end
    while position > 0:
        size = min(block, position)
        position -= size
        handle.seek(position)
        data, index = handle.read(size), size
        while (index := data.rfind(b"\n", 0, index)) >= 0:
            found += 1
            if found == needed:
                return position + index + 1
    return 0


async def log_chunks(
    path: Path, *, tail_lines: int | None, follow: bool, finished: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The file's bytes (from the last `tail_lines` lines); with `follow`, then what is
    appended, polled every 0.1 s, until `finished()` — after which the rest is drained once.

    File reads are direct: a 64 KiB read of a local file takes microseconds.
    """
    handle = await _open_when_present(path, follow=follow, finished=finished)
    if handle is None:
        return
    with handle:
        if tail_lines is not None:
            handle.seek(tail_offset(handle, tail_lines))
        draining = False
        while True:
            chunk = handle.read(CHUNK)
            if chunk:
                yield chunk
            elif not follow or draining:
                return
            elif finished():
                draining = True  # one more pass: bytes written just before the attempt ended
            else:
                await asyncio.sleep(FOLLOW_POLL_SECONDS)


async def _open_when_present(
    path: Path, *, follow: bool, finished: Callable[[], bool]
) -> IO[bytes] | None:
    """The open file; when following, wait for it to appear (the step may not have started)."""
    while True:
        try:
            return path.open("rb")
        except FileNotFoundError:
            if not follow or finished():
                return None
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
