"""The adaptive batcher, driven with a fake model: no sockets, no sleeps.

A gate (a `threading.Event`) holds the fake model inside `predict`, so a test can queue
requests while a batch is running and see exactly how the next batches are formed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pytest

from mlkube.serving import batching
from mlkube.serving.batching import Batcher

Array = np.ndarray[Any, Any]
pytestmark = pytest.mark.anyio


class FakeModel:
    """Doubles `x`; fails on negative values; can be held inside predict by `gate`."""

    def __init__(self, *, hold_first: bool = False, scalar_output: bool = False) -> None:
        self.batches: list[list[float]] = []  # first column of every batch predicted
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.scalar_output = scalar_output
        if not hold_first:
            self.gate.set()

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        x = inputs["x"]
        self.batches.append(x[:, 0].tolist())
        self.entered.set()
        self.gate.wait(5)
        if (x < 0).any():
            raise ValueError("negative input")
        if self.scalar_output and len(x) > 1:
            return {"y": np.array(1.0)}
        return {"y": x * 2, "z": x.sum(axis=1)}

    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]


def rows(*values: float, width: int = 2) -> dict[str, Array]:
    return {"x": np.array([[v] * width for v in values], dtype=np.float64)}


async def held_batcher(
    *, scalar_output: bool = False, **options: Any
) -> tuple[FakeModel, Batcher, asyncio.Task[dict[str, Array]]]:
    """A Batcher (with `options`) over a held FakeModel, returned once the model is inside
    predict with a first one-row request, whose task comes third."""
    model = FakeModel(hold_first=True, scalar_output=scalar_output)
    batcher = Batcher(model.predict, **options)
    first = asyncio.create_task(batcher.predict(rows(0.0), ["y"]))
    await asyncio.get_running_loop().run_in_executor(None, model.entered.wait, 5)
    return model, batcher, first


async def release(model: FakeModel, *tasks: Any) -> list[Any]:
    model.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lone_request_runs_at_once_as_a_batch_of_one() -> None:
    model = FakeModel()
    batcher = Batcher(model.predict)
    out = await asyncio.wait_for(batcher.predict(rows(3.0), ["y"]), 5)
    np.testing.assert_array_equal(out["y"], [[6.0, 6.0]])
    assert model.sizes() == [1]
    await batcher.close()


async def test_requests_queued_during_a_batch_go_together_in_order() -> None:
    model, batcher, first = await held_batcher(max_batch_size=32)
    queued = [asyncio.create_task(batcher.predict(rows(float(i)), ["y"])) for i in range(1, 11)]
    await asyncio.sleep(0)
    assert batcher.queue_length == 10
    results = await release(model, first, *queued)
    assert model.batches == [[0.0], [float(i) for i in range(1, 11)]]
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["y"], [[2.0 * i, 2.0 * i]])
    assert batcher.queue_length == 0
    await batcher.close()


async def test_batches_never_exceed_max_batch_size_rows() -> None:
    model, batcher, first = await held_batcher(max_batch_size=4)
    queued = [batcher.predict(rows(1.0, 2.0), ["y"]) for _ in range(3)]
    queued += [batcher.predict(rows(3.0), ["y"]) for _ in range(3)]
    big = batcher.predict(rows(*range(6)), ["y"])
    tasks = [asyncio.ensure_future(c) for c in [*queued, big]]
    results = await release(model, first, *tasks)
    assert model.sizes() == [1, 4, 4, 1, 6]  # an oversized request runs alone
    assert [len(r["y"]) for r in results] == [1, 2, 2, 2, 1, 1, 1, 6]
    await batcher.close()


async def test_incompatible_requests_go_in_separate_batches() -> None:
    model, batcher, first = await held_batcher()
    narrow = [asyncio.create_task(batcher.predict(rows(1.0), ["y"])) for _ in range(2)]
    wide = asyncio.create_task(batcher.predict(rows(2.0, width=3), ["y"]))
    ints = asyncio.create_task(batcher.predict({"x": np.array([[4, 4]])}, ["y"]))
    narrow.append(asyncio.create_task(batcher.predict(rows(5.0), ["y"])))
    results = await release(model, first, *narrow, wide, ints)
    assert model.batches == [[0.0], [1.0, 1.0, 5.0], [2.0], [4]]
    assert results[-2]["y"].shape == (1, 3)
    await batcher.close()


async def test_one_bad_request_does_not_fail_the_others_in_its_batch() -> None:
    model, batcher, first = await held_batcher()
    good1 = asyncio.create_task(batcher.predict(rows(1.0), ["y"]))
    bad = asyncio.create_task(batcher.predict(rows(-1.0), ["y"]))
    good2 = asyncio.create_task(batcher.predict(rows(2.0), ["y", "z"]))
    results = await release(model, first, good1, bad, good2)
    assert model.sizes() == [1, 3, 1, 1, 1]  # the batch failed, then one by one
    assert isinstance(results[2], ValueError)
    np.testing.assert_array_equal(results[1]["y"], [[2.0, 2.0]])
    np.testing.assert_array_equal(results[3]["z"], [4.0])
    await batcher.close()


async def test_outputs_without_a_row_per_input_row_fall_back_to_one_by_one() -> None:
    model, batcher, first = await held_batcher(scalar_output=True)
    queued = [asyncio.create_task(batcher.predict(rows(1.0), ["y"])) for _ in range(2)]
    results = await release(model, first, *queued)
    assert model.sizes() == [1, 2, 1, 1]
    assert all(r["y"].shape == (1, 2) for r in results)
    await batcher.close()


async def test_an_unbatchable_model_runs_every_request_alone() -> None:
    model, batcher, first = await held_batcher(batchable=False)
    queued = [asyncio.create_task(batcher.predict(rows(1.0), ["y"])) for _ in range(3)]
    await release(model, first, *queued)
    assert model.sizes() == [1, 1, 1, 1]
    await batcher.close()


async def test_a_batch_delay_waits_for_more_rows_until_the_batch_is_full() -> None:
    model = FakeModel()
    batcher = Batcher(model.predict, max_batch_size=2, max_batch_delay_ms=60_000)
    first = asyncio.create_task(batcher.predict(rows(1.0), ["y"]))
    for _ in range(5):
        await asyncio.sleep(0)  # let the dispatcher start waiting for more
    assert model.sizes() == []
    second = asyncio.create_task(batcher.predict(rows(2.0), ["y"]))
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert model.sizes() == [2]
    await batcher.close()


async def test_workers_run_batches_at_the_same_time() -> None:
    both_inside = threading.Barrier(2, timeout=5)

    def predict(inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        both_inside.wait()  # only returns if two threads are predicting at once
        return {"y": inputs["x"]}

    batcher = Batcher(predict, workers=2)
    a = batcher.predict(rows(1.0), ["y"])
    b = batcher.predict(rows(1.0, width=3), ["y"])
    await asyncio.wait_for(asyncio.gather(a, b), 5)
    await batcher.close()


async def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    model, batcher, first = await held_batcher()
    queued = asyncio.create_task(batcher.predict(rows(1.0), ["y"]))
    await asyncio.sleep(0)
    closing = asyncio.create_task(batcher.close())
    await asyncio.sleep(0)
    model.gate.set()
    await closing
    assert queued.done() and first.done()
    np.testing.assert_array_equal(queued.result()["y"], [[2.0, 2.0]])
    with pytest.raises(RuntimeError, match="the batcher is closed"):
        await batcher.predict(rows(1.0), ["y"])


async def test_a_cancelled_request_is_dropped_from_the_queue() -> None:
    model, batcher, first = await held_batcher()
    gone = asyncio.create_task(batcher.predict(rows(7.0), ["y"]))
    kept = asyncio.create_task(batcher.predict(rows(8.0), ["y"]))
    await asyncio.sleep(0)
    gone.cancel()
    await release(model, first, kept, gone)
    assert model.batches == [[0.0], [8.0]]
    await batcher.close()


async def test_the_observer_sees_every_batch() -> None:
    seen: list[tuple[int, int]] = []
    model, batcher, first = await held_batcher(on_batch=lambda r, n, s: seen.append((r, n)))
    queued = [asyncio.create_task(batcher.predict(rows(1.0, 2.0), ["y"])) for _ in range(2)]
    await release(model, first, *queued)
    assert seen == [(1, 1), (4, 2)]
    await batcher.close()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch_size and workers must be >= 1"):
        Batcher(FakeModel().predict, max_batch_size=0)
    assert set(batching.__all__) == {"BatchObserver", "Batcher", "PredictFn"}
