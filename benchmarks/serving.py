"""Serving throughput and latency beside Seldon MLServer, and autoscaling reaction times.

A LogisticRegression on iris, saved with joblib, served five ways on this machine in one run:
a bare Starlette/uvicorn endpoint (the least per-request work in Python: an upper bound at
concurrency 1; it does not batch, so not at 32), one mlkube replica, the mlkube router in
front of that replica, and MLServer with its defaults and with `parallel_workers: 0`
(inference in its server process). Each is driven by `wrk` (one thread, a Lua script POSTing
one OIP JSON request) at concurrency 1 and 32, after a warm-up run. Then the embedded
platform (`mlkube up`, real processes) is timed scaling an InferenceService up under a step
of load, down to zero, and back from zero (see serving_autoscale.py).

    .venv/bin/python benchmarks/serving.py [--quick] [--skip-mlserver] [--skip-autoscale]

MLServer is installed on first use into its own virtualenv, benchmarks/.venv-mlserver (not the
project's), with the project's own scikit-learn, joblib and numpy versions so the same model
file loads in both. wrk is installed with apt-get when missing (as root).

Figures only, no pass/fail: the machine's cores are shared by wrk and the servers (and, through
the router, two server processes), so absolute numbers move from run to run; compare the rows
of one run. The issue's targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib  # type: ignore[import-untyped]
import orjson
from rich.console import Console
from rich.table import Table
from serving_autoscale import Reaction, run_autoscale
from serving_servers import (
    MODEL_NAME,
    ensure_mlserver_venv,
    start_baseline,
    start_mlserver,
    start_replica,
    start_router,
)
from serving_wrk import WrkResult, ensure_wrk, run_wrk
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MLSERVER_VENV = Path(__file__).with_name(".venv-mlserver")
CONCURRENCY = (1, 32)
REFERENCE = "MLServer (defaults)"
# Wide enough for the table when the output is a file or a pipe (rich's default there is 80).
console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass(frozen=True)
class Point:
    """One measured scenario at one concurrency; `result` None when it could not run."""

    scenario: str
    concurrency: int
    result: WrkResult | None
    error: str = ""


@dataclass(frozen=True)
class Timing:
    warmup_s: float
    measure_s: float


def train_model(folder: Path) -> Path:
    """A LogisticRegression fitted on iris (shipped with scikit-learn), saved with joblib."""
    x, y = load_iris(return_X_y=True)
    path = folder / "model" / "model.joblib"
    path.parent.mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), path)
    return path


def request_body() -> bytes:
    """One OIP request with one iris row; every server under test takes it as is."""
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
    return orjson.dumps({"inputs": [tensor]})


def check_answers(url: str, body: bytes) -> None:
    """One request first, so a broken server fails with its answer rather than wrk's counts."""
    response = httpx.post(url, content=body, headers={"content-type": "application/json"})
    if response.status_code != 200:
        raise RuntimeError(f"POST {url}: HTTP {response.status_code} {response.text[:300]}")


def measure(scenario: str, url: str, body: bytes, timing: Timing) -> list[Point]:
    """Warm up, then measure `url` at each concurrency."""
    check_answers(url, body)
    points = []
    for conc in CONCURRENCY:
        run_wrk(url, body, connections=conc, seconds=timing.warmup_s)
        result = run_wrk(url, body, connections=conc, seconds=timing.measure_s)
        console.print(
            f"  {scenario:<28} c={conc:<3} {result.rps:>9.0f} rps  "
            f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:7.3f} ms",
            highlight=False,
        )
        points.append(Point(scenario, conc, result))
    return points


Starter = Callable[[ExitStack], list[tuple[str, str]]]
INFER = f"/v2/models/{MODEL_NAME}/infer"


def scenarios(model: Path, work: Path, *, mlserver: bool) -> Iterator[tuple[str, Starter]]:
    """(label, starter): the starter starts the servers on the stack and returns the
    (scenario, inference URL) pairs to measure while they run."""

    def baseline(stack: ExitStack) -> list[tuple[str, str]]:
        url = stack.enter_context(start_baseline(model, work))
        return [("Starlette+uvicorn (bare endpoint)", url + INFER)]

    def mlkube(stack: ExitStack) -> list[tuple[str, str]]:
        replica = stack.enter_context(start_replica(model, work))
        router = stack.enter_context(start_router(work, replica))
        return [("mlkube replica (direct)", replica + INFER), ("mlkube via router", router + INFER)]

    yield "Starlette baseline", baseline
    yield "mlkube", mlkube
    if not mlserver:
        return
    exe = ensure_mlserver_venv(MLSERVER_VENV)

    def seldon(workers: int | None) -> Starter:
        label = REFERENCE if workers is None else f"MLServer (parallel_workers {workers})"

        def start(stack: ExitStack) -> list[tuple[str, str]]:
            url = stack.enter_context(start_mlserver(exe, model, work, parallel_workers=workers))
            return [(label, url + INFER)]

        return start

    yield REFERENCE, seldon(None)
    yield "MLServer, inference in the server process", seldon(0)


def run_throughput(model: Path, work: Path, timing: Timing, *, mlserver: bool) -> list[Point]:
    """Every scenario in turn (only its own processes running), failures recorded, not raised."""
    points: list[Point] = []
    body = request_body()
    for label, starter in scenarios(model, work, mlserver=mlserver):
        console.print(f"[bold]{label}[/]")
        with ExitStack() as stack:
            try:
                for scenario, url in starter(stack):
                    points.extend(measure(scenario, url, body, timing))
            except Exception as exc:
                console.print(f"  [red]failed:[/] {exc}", highlight=False)
                points.append(Point(label, 0, None, f"{type(exc).__name__}: {exc}"))
    return points


def _ratio(point: Point, reference: dict[int, WrkResult]) -> str:
    ref = reference.get(point.concurrency)
    if point.result is None or ref is None or not ref.rps or not ref.p99_ms:
        return ""
    return f"{point.result.rps / ref.rps:.1f}x rps, {point.result.p99_ms / ref.p99_ms:.2f}x p99"


def throughput_table(points: list[Point]) -> Table:
    reference = {p.concurrency: p.result for p in points if p.scenario == REFERENCE and p.result}
    table = Table(title="Serving: iris LogisticRegression, one row per request (wrk -t1)")
    for name in ("scenario", "conc", "rps", "p50 ms", "p90 ms", "p99 ms", "errors"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    table.add_column(f"vs {REFERENCE}")
    for p in points:
        r = p.result
        if r is None:
            table.add_row(p.scenario, "-", "-", "-", "-", "-", "-", p.error[:60])
            continue
        table.add_row(
            p.scenario,
            str(p.concurrency),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.3f}",
            f"{r.p90_ms:.3f}",
            f"{r.p99_ms:.3f}",
            str(r.errors),
            _ratio(p, reference),
        )
    return table


def _find(points: list[Point], scenario: str, conc: int) -> WrkResult | None:
    return next(
        (p.result for p in points if p.scenario == scenario and p.concurrency == conc), None
    )


def target_lines(points: list[Point]) -> list[str]:
    """The issue's targets beside the figures of this run."""
    direct1 = _find(points, "mlkube replica (direct)", 1)
    router1 = _find(points, "mlkube via router", 1)
    lines = []
    if direct1 is not None:
        lines.append(
            _target("p50 direct at c=1", direct1.p50_ms, "ms", "< 1 ms", direct1.p50_ms < 1)
        )
    if direct1 is not None and router1 is not None:
        extra = router1.p50_ms - direct1.p50_ms
        lines.append(_target("router overhead (p50, c=1)", extra, "ms", "< 1 ms", extra < 1))
    ref32 = _find(points, REFERENCE, 32)
    for scenario in ("mlkube replica (direct)", "mlkube via router"):
        ours = _find(points, scenario, 32)
        if ours is None or ref32 is None or not ref32.rps:
            continue
        ratio = ours.rps / ref32.rps
        ok = ratio >= 2 and ours.p99_ms < ref32.p99_ms
        lines.append(
            _target(f"{scenario} vs MLServer, c=32", ratio, "x rps", ">= 2x, lower p99", ok)
            + f" (p99 {ours.p99_ms:.2f} vs {ref32.p99_ms:.2f} ms)"
        )
    return lines


def _target(what: str, value: float, unit: str, goal: str, met: bool) -> str:
    mark = "[green]met[/]" if met else "[red]missed[/]"
    return f"{what}: {value:.3f} {unit} (target {goal}): {mark}"


def reaction_table(reaction: Reaction) -> Table:
    table = Table(title="Autoscaling in `mlkube up`: 1-3 replicas, concurrency 2 each")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    for label, seconds in reaction.figures:
        table.add_row(label, "not reached" if seconds is None else f"{seconds:.2f}")
    return table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per point (smoke test)")
    parser.add_argument("--skip-mlserver", action="store_true", help="no MLServer rows")
    parser.add_argument("--skip-autoscale", action="store_true", help="no reaction times")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    ensure_wrk()
    timing = Timing(1, 2) if args.quick else Timing(2, 6)
    work = Path(tempfile.mkdtemp(prefix="mlkube-bench-serving-"))
    try:
        model = train_model(work)
        points = run_throughput(model, work, timing, mlserver=not args.skip_mlserver)
        reaction = None
        if not args.skip_autoscale:
            console.print("[bold]autoscaling[/] (mlkube up, InferenceService)")
            try:
                reaction = run_autoscale(model, work, request_body(), quick=args.quick)
            except Exception as exc:
                reaction = Reaction(notes=[f"failed: {type(exc).__name__}: {exc}"])
        report(points, reaction)
    finally:
        if args.keep:
            console.print(f"work dir (logs): {work}", highlight=False)
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(points: list[Point], reaction: Reaction | None) -> None:
    console.print()
    console.print(throughput_table(points))
    for line in target_lines(points):
        console.print(line, highlight=False)
    console.print(
        "(2 shared cores: wrk, the router and the replica run on the same cores, so the "
        "via-router rows also pay for a third busy process.)"
    )
    if reaction is not None:
        console.print()
        console.print(reaction_table(reaction))
        for note in reaction.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)


if __name__ == "__main__":
    main()
