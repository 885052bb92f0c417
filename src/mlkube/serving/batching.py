"""Adaptive batching in front of a model's `predict`, on asyncio.

Requests queue; a dispatcher takes whatever is queued the moment the model is free (so a
lone request waits for nothing), and requests arriving while a batch runs go together in
the next one, up to `max_batch_size` rows. With `max_batch_delay_ms` > 0 a dispatcher
waits that long for more rows before running a short batch. Inference runs in worker
threads so the event loop keeps accepting requests.

Only requests with the same input names, dtypes and trailing shapes are concatenated
(along axis 0); outputs are split back by row counts. If a batch fails, its requests are
retried one by one so that only the guilty request gets the error.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BatchObserver", "Batcher", "PredictFn"]

Array = np.ndarray[Any, Any]
PredictFn = Callable[[Mapping[str, Array], Collection[str]], dict[str, Array]]
# Called on the event loop after each batch: (rows, requests, seconds spent in predict).
BatchObserver = Callable[[int, int, float], None]
_Result = dict[str, Array] | Exception


@dataclass(slots=True, eq=False)
class _Item:
    inputs: Mapping[str, Array]
    outputs: frozenset[str]
    rows: int
    key: tuple[tuple[str, str, tuple[int, ...]], ...]
    future: asyncio.Future[dict[str, Array]]


class Batcher:
    """Queue requests for `predict` and run them in adaptive batches.

    `batchable=False` (a model without a free leading dimension) runs every request alone.
    `workers` batches may run at once, each in its own thread.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 32,
        max_batch_delay_ms: float = 0.0,
        workers: int = 1,
        batchable: bool = True,
        on_batch: BatchObserver | None = None,
    ) -> None:
        if max_batch_size < 1 or workers < 1 or max_batch_delay_ms < 0:
            raise ValueError("max_batch_size and workers must be >= 1, the delay >= 0")
        self._predict = predict
        self._max_rows = max_batch_size
        self._delay = max_batch_delay_ms / 1000.0
        self._workers = workers
        self._batchable = batchable
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def batchable(self) -> bool:
        """Whether requests are concatenated along axis 0 (else every one runs alone)."""
        return self._batchable

    @property
    def queue_length(self) -> int:
        """Requests waiting for a batch (not counting those being predicted)."""
        return len(self._queue)

    async def predict(
        self, inputs: Mapping[str, Array], outputs: Collection[str]
    ) -> dict[str, Array]:
        """Predict `outputs` for `inputs` as part of some batch; raises what predict raised.

        Every input must have the same number of rows (axis 0) when the model is batchable.
        """
        if self._closed:
            raise RuntimeError("the batcher is closed")
        if not self._tasks:
            self._start()
        first = next(iter(inputs.values()))
        rows = first.shape[0] if self._batchable and first.ndim else 1
        key = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(inputs.items()))
        future: asyncio.Future[dict[str, Array]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(inputs, frozenset(outputs), rows, key, future))
        self._queued_rows += rows
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish every queued request, then stop the dispatchers and threads. Idempotent."""
        self._closed = True
        self._wakeup.set()
        if self._tasks:
            await asyncio.gather(*self._tasks)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _start(self) -> None:
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="mlkube-predict")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._dispatch()) for _ in range(self._workers)]

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if self._delay and not self._closed:
                await self._gather_more(loop)
            batch = self._take()
            if not batch:
                continue
            results, seconds = await loop.run_in_executor(self._executor, self._run, batch)
            for item, result in zip(batch, results, strict=True):
                if item.future.done():
                    continue  # the caller went away
                if isinstance(result, Exception):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
            if self._on_batch is not None:
                self._on_batch(sum(item.rows for item in batch), len(batch), seconds)

    async def _gather_more(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self._delay
        while self._queued_rows < self._max_rows and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        """Pop the oldest live request and the compatible ones that fit after it, in order."""
        while self._queue and self._queue[0].future.done():
            self._queued_rows -= self._queue.popleft().rows
        if not self._queue:
            return []
        head = self._queue.popleft()
        batch, rows, skipped = [head], head.rows, deque[_Item]()
        while self._batchable and self._queue and rows < self._max_rows:
            item = self._queue.popleft()
            if item.future.done():
                self._queued_rows -= item.rows
            elif item.key == head.key and rows + item.rows <= self._max_rows:
                batch.append(item)
                rows += item.rows
            else:
                skipped.append(item)
        self._queue.extendleft(reversed(skipped))
        self._queued_rows -= rows
        return batch

    def _run(self, batch: list[_Item]) -> tuple[list[_Result], float]:
        """In a worker thread: predict the batch; on failure, each request on its own."""
        start = time.perf_counter()
        if len(batch) == 1:
            results = [self._call(batch[0].inputs, batch[0].outputs)]
        else:
            try:
                results = self._run_merged(batch)
            except Exception:
                results = [self._call(item.inputs, item.outputs) for item in batch]
        return results, time.perf_counter() - start

    def _run_merged(self, batch: list[_Item]) -> list[_Result]:
        names = list(batch[0].inputs)
        merged = {n: np.concatenate([item.inputs[n] for item in batch]) for n in names}
        outputs = frozenset[str]().union(*(item.outputs for item in batch))
        result = self._predict(merged, outputs)
        total = sum(item.rows for item in batch)
        for name in outputs:
            array = result[name]
            if array.ndim == 0 or array.shape[0] != total:
                raise ValueError(f"output {name} does not have one row per input row")
        split: list[_Result] = []
        start = 0
        for item in batch:
            end = start + item.rows
            split.append({name: result[name][start:end] for name in item.outputs})
            start = end
        return split

    def _call(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> _Result:
        try:
            return self._predict(inputs, outputs)
        except Exception as exc:
            return exc
