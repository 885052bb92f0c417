"""`make demo`: the embedded platform runs a real ML pipeline end to end, then stops.

Uses the platform already running (if `mlkube up` is up), else starts one for the demo's
duration. State stays on disk, so a later `mlkube up` still shows the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits

from mlkube.api.errors import ApiError
from mlkube.api.quantity import human_bytes
from mlkube.cli.render import elapsed
from mlkube.sdk.client import Client

HERE = Path(__file__).resolve().parent
MLKUBE = str(Path(sys.executable).with_name("mlkube"))
NAMESPACE = "ml-team"
console = Console(width=None if sys.stdout.isatty() else 110)


def sh(*args: str, check: bool = True) -> int:
    """Run an `mlkube` command as a user would, showing it first."""
    console.print(f"[bold]$ mlkube {' '.join(args)}[/]")
    code = subprocess.call([MLKUBE, *args])
    if check and code != 0:
        raise SystemExit(f"`mlkube {' '.join(args)}` exited {code}")
    return code


def connect() -> Client | None:
    try:
        client = Client.from_config()
        client.list("namespaces")
    except (ApiError, OSError, ValueError):
        return None
    return client


def start_platform() -> subprocess.Popen[bytes]:
    console.print("[bold]$ mlkube up[/]   (in the background, for this demo)")
    proc = subprocess.Popen([MLKUBE, "up"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlkube up exited with {proc.returncode}")
        if connect() is not None:
            return proc
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("mlkube up did not become ready within 60 s")


def results_table(client: Client, run_name: str) -> Table:
    run = client.get("pipelineruns", run_name, namespace=NAMESPACE)
    steps = {s["name"]: s for s in run["status"]["steps"]}
    best = next(o["value"] for o in run["status"]["outputs"] if o["name"] == "best")
    table = Table(title=f"pipelinerun {run_name}: candidates on the held-out digits")
    for header in ("model", "accuracy", "f1 (macro)", "train time", "cpus"):
        table.add_column(header)
    for name, st in sorted(steps.items()):
        if not name.startswith("evaluate-"):
            continue
        candidate = name.removeprefix("evaluate-")
        metrics = next(o["value"] for o in st["outputs"] if o["name"] == "output")
        train = steps[f"train-{candidate}"]
        cpus = ",".join(map(str, (train.get("placement") or {}).get("cpus", []))) or "cached"
        mark = " ★" if candidate == best else ""
        table.add_row(
            candidate + mark,
            f"{metrics['accuracy']:.4f}",
            f"{metrics['f1_macro']:.4f}",
            elapsed(str(train.get("startTime") or ""), str(train.get("finishTime") or "")) or "-",
            cpus,
        )
    return table


def serve_best_model(client: Client, run_name: str) -> None:
    """Put the run's best model behind the Open Inference Protocol and ask it about digits."""
    sh(
        "serve", "digits", "-n", NAMESPACE, "--model", f"pipelinerun://{run_name}/model",
        "--format", "sklearn", "--min-replicas", "0", "--max-replicas", "2",
        "--scale-to-zero-after", "300",
    )  # fmt: skip
    url = client.get("inferenceservices", "digits", namespace=NAMESPACE)["status"]["url"]
    digits = load_digits()
    images, labels = digits.data[-8:] / 16.0, digits.target[-8:]
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(images.shape),
                "datatype": "FP64",
                "data": images.ravel().tolist(),
            }
        ]
    }
    infer = f"{url}/v2/models/digits/infer"
    with httpx.Client(timeout=30) as http:
        http.post(infer, json=body).raise_for_status()  # the first request opens connections
        began = time.perf_counter()
        response = http.post(infer, json=body)
        took_ms = (time.perf_counter() - began) * 1000
    response.raise_for_status()
    predicted = next(o for o in response.json()["outputs"] if o["name"] == "predict")["data"]
    console.print(
        f"POST {infer}\n  8 held-out digits {labels.tolist()}\n  predicted        "
        f"{predicted}  ({took_ms:.1f} ms, Open Inference Protocol)",
        highlight=False,
    )
    sh("get", "inferenceservices", "-n", NAMESPACE)


def main() -> int:
    started = time.monotonic()
    client = connect()
    proc = None if client is not None else start_platform()
    client = client or connect()
    assert client is not None
    try:
        sh("apply", "-f", str(HERE / "namespace.yaml"))
        before = {r["metadata"]["name"] for r in client.list("pipelineruns", namespace=NAMESPACE)}
        code = sh("run", str(HERE / "digits_pipeline.py"), "-n", NAMESPACE, check=False)
        runs = [
            r
            for r in client.list("pipelineruns", namespace=NAMESPACE)
            if r["metadata"]["name"] not in before
        ]
        if not runs:
            raise SystemExit("the run was not created")
        name = runs[0]["metadata"]["name"]
        console.print()
        console.print(results_table(client, name))
        model = next(
            o
            for o in client.get("pipelineruns", name, namespace=NAMESPACE)["status"]["outputs"]
            if o["name"] == "model"
        )
        artifact = model["artifact"]
        console.print(
            f"best model: {artifact['type']}, {human_bytes(artifact['size'])}, "
            f"artifact {artifact['digest'][:19]}…\n  at {artifact['uri']}",
            highlight=False,
        )
        console.print()
        sh("get", "pipelineruns", "-n", NAMESPACE)
        console.print()
        serve_best_model(client, name)
        console.print(
            "\nLook around (start the platform first with `mlkube up` if it is not running):\n"
            f"  mlkube describe pipelinerun {name} -n {NAMESPACE}\n"
            f"  mlkube logs {name} --step select-best -n {NAMESPACE}\n"
            f"  mlkube get pipelinerun {name} -n {NAMESPACE} -o yaml\n"
            f"  mlkube run examples/digits_pipeline.py -n {NAMESPACE}"
            "   (again: every step is cached)\n"
            f"  mlkube get isvc -n {NAMESPACE}    (the model service; scales to zero when idle)",
            highlight=False,
        )
        console.print(f"\ndemo finished in {time.monotonic() - started:.1f}s", highlight=False)
        return code
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
