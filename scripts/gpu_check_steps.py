# mypy: disallow-untyped-decorators=False
# (`step` and `pipeline` are typed as returning Any on purpose)
"""Pipeline steps for `scripts/gpu_check.py`: what each step sees, and a small GPU training job.

The platform imports this file in its warm worker and forks every step from it, so the heavy
libraries (torch, numpy, scikit-learn) are imported *inside* the steps, never at the top: the
worker then never loads torch, and each step's torch starts after the platform has set that
step's `CUDA_VISIBLE_DEVICES`. What a step sees is therefore exactly what the platform granted.

Steps return plain dicts (small JSON, stored inline) or numpy arrays (pickled artifacts), so
the outputs cross from the GPU step to the CPU step through the platform's own value passing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mlkube.sdk import pipeline, step

# Long enough for a cold torch import and CUDA start on a busy node, short enough that a hung
# step is killed (reason DeadlineExceeded) well inside the check's own time limit.
STEP_TIMEOUT_S = 150.0

_ENV_NAMES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "MLKUBE_WORKLOAD_ID",
)


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as plain JSON types (torch's version is a `str` subclass, for one), so the
    platform passes it inline as a value rather than pickling it into an artifact."""
    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return plain


def _env() -> dict[str, str | None]:
    """The GPU-visibility variables as this process sees them (None: not set at all)."""
    return {name: os.environ.get(name) for name in _ENV_NAMES}


def _process() -> dict[str, Any]:
    """Where this step runs: pid, pinned cores, address-space limit, cgroup."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            cgroup = handle.read().strip()
    except OSError:
        cgroup = ""
    return {
        "pid": os.getpid(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "rlimit_as": None if soft == resource.RLIM_INFINITY else soft,
        "cgroup": cgroup[-300:],
    }


def _torch_view() -> dict[str, Any]:
    """What torch sees of CUDA in this process; `torch: None` when torch is not installed."""
    started = time.perf_counter()
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        return {"torch": None, "import_error": str(exc)}
    view: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "import_s": round(time.perf_counter() - started, 2),
    }
    started = time.perf_counter()
    try:
        available = bool(torch.cuda.is_available())
        count = int(torch.cuda.device_count())
    except Exception as exc:  # a broken driver must be reported, not crash the probe
        return {**view, "cuda_available": False, "device_count": 0, "cuda_error": repr(exc)}
    view.update(cuda_available=available, device_count=count, devices=[])
    for index in range(count):
        props = torch.cuda.get_device_properties(index)
        uuid = getattr(props, "uuid", None)  # torch >= 2.1
        view["devices"].append(
            {
                "index": index,
                "name": props.name,
                "uuid": None if uuid is None else str(uuid),
                "memory_bytes": int(props.total_memory),
                "capability": f"{props.major}.{props.minor}",
            }
        )
    if available and count:
        try:
            torch.zeros(1, device="cuda").sum().item()  # really start a context on the device
            view["context_ok"] = True
        except Exception as exc:
            view["context_ok"] = False
            view["cuda_error"] = repr(exc)
    view["cuda_probe_s"] = round(time.perf_counter() - started, 2)
    return view


def probe(label: str) -> dict[str, Any]:
    """Report what this step was given: environment, process, and torch's view of CUDA.

    Not decorated here: `gpu_check.py` wraps it in `step(...)` with the resources each probe
    run asks for (none, one GPU of a given model, two GPUs, ...).
    """
    report = {"label": label, "env": _env(), "process": _process(), "torch": _torch_view()}
    print(f"probe {label}: {report}")
    return _plain(report)


# -- the training pipeline: CPU prepare -> GPU train -> CPU evaluate -------------------------


@step(cpu="1", outputs=("dataset", "summary"), cache=False, timeout_seconds=STEP_TIMEOUT_S)
def prepare(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """scikit-learn's digits (1,797 8x8 images), pixels scaled to [0, 1], a stratified split."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    print(f"digits: {len(x)} images, {len(x_train)} train / {len(x_test)} test")
    dataset = {"x_train": x_train, "x_test": x_test, "y_train": y_train, "y_test": y_test}
    summary = {"samples": len(x), "train": len(x_train), "test": len(x_test), "env": _env()}
    return dataset, summary


# No `memory=`: a GPU step under a memory limit is checked on its own, by `gpu_check.py` (g),
# so that a failure there does not also fail the training check (c).
@step(
    cpu="2",
    gpu=1,
    outputs=("weights", "report"),
    cache=False,
    timeout_seconds=STEP_TIMEOUT_S,
)
def train_gpu(
    dataset: dict[str, Any], epochs: int, seed: int, require_cuda: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train a 64-256-256-10 MLP with Adam on the GPU granted to this step.

    Returns the weights (numpy, for the CPU step downstream) and a report: what the step saw,
    the device, the final loss and accuracies, and the time spent. With `require_cuda` false
    (local rehearsal only) it trains on the CPU when no GPU is visible.
    """
    seen = {"env": _env(), "process": _process()}
    started = time.perf_counter()
    import torch  # type: ignore[import-not-found, unused-ignore]
    from torch import nn  # type: ignore[import-not-found, unused-ignore]

    import_s = time.perf_counter() - started
    cuda = torch.cuda.is_available()
    if require_cuda and not cuda:
        raise RuntimeError(
            "CUDA is not available in the GPU step "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}, "
            f"torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
    device = torch.device("cuda" if cuda else "cpu")
    started = time.perf_counter()
    torch.manual_seed(seed)
    torch.zeros(1, device=device).sum().item()  # CUDA context start, timed on its own
    init_s = time.perf_counter() - started

    x_train = torch.as_tensor(dataset["x_train"], device=device)
    y_train = torch.as_tensor(dataset["y_train"], device=device)
    x_test = torch.as_tensor(dataset["x_test"], device=device)
    y_test = torch.as_tensor(dataset["y_test"], device=device)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batch = 64
    n = len(x_train)
    losses: list[float] = []

    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        for lo in range(0, n, batch):
            idx = order[lo : lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        losses.append(float(total.item()) / n)  # one sync per epoch
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}/{epochs}: loss {losses[-1]:.4f}")
    if cuda:
        torch.cuda.synchronize()
    train_s = time.perf_counter() - started

    with torch.no_grad():
        train_acc = float((model(x_train).argmax(1) == y_train).float().mean().item())
        test_acc = float((model(x_test).argmax(1) == y_test).float().mean().item())
    weights = {name: t.detach().cpu().numpy() for name, t in model.state_dict().items()}

    report: dict[str, Any] = {
        **seen,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": str(device),
        "cuda_available": cuda,
        "device_count": int(torch.cuda.device_count()) if cuda else 0,
        "torch_import_s": round(import_s, 2),
        "cuda_init_s": round(init_s, 2),
        "epochs": epochs,
        "steps": epochs * ((n + batch - 1) // batch),
        "train_s": round(train_s, 2),
        "final_loss": round(losses[-1], 5),
        "first_loss": round(losses[0], 5),
        "train_accuracy": round(train_acc, 4),
        "test_accuracy": round(test_acc, 4),
    }
    if cuda:
        props = torch.cuda.get_device_properties(0)
        uuid = getattr(props, "uuid", None)
        report.update(
            device_name=props.name,
            device_uuid=None if uuid is None else str(uuid),
            device_memory_bytes=int(props.total_memory),
            capability=f"{props.major}.{props.minor}",
            peak_memory_bytes=int(torch.cuda.max_memory_allocated()),
            matmul_bf16_tflops=_matmul_tflops(torch),
        )
    print(f"report: {report}")
    return weights, _plain(report)


def _matmul_tflops(torch: Any) -> float:
    """A quick bf16 8192^3 matmul rate: a sanity check that this is a big GPU, not a number
    to quote (no clock control, few repetitions)."""
    size, reps = 8192, 10
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return round(2 * size**3 * reps / seconds / 1e12, 1)


@step(cpu="1", cache=False, timeout_seconds=STEP_TIMEOUT_S)
def evaluate_cpu(
    weights: dict[str, Any], dataset: dict[str, Any], gpu_report: dict[str, Any]
) -> dict[str, Any]:
    """Score the GPU-trained weights on the test split with numpy, in a CPU-only step."""
    import numpy as np

    def linear(x: Any, name: str) -> Any:
        return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]

    x = dataset["x_test"]
    hidden = np.maximum(linear(np.maximum(linear(x, "0"), 0.0), "2"), 0.0)
    predicted = linear(hidden, "4").argmax(axis=1)
    accuracy = float((predicted == dataset["y_test"]).mean())
    result = {
        "cpu_test_accuracy": round(accuracy, 4),
        "gpu_test_accuracy": gpu_report.get("test_accuracy"),
        "trained_on": gpu_report.get("device_name") or gpu_report.get("device"),
        "parameters": int(sum(np.asarray(w).size for w in weights.values())),
        "env": _env(),
        "process": _process(),
        "torch": _torch_view(),
    }
    print(f"evaluation: {result}")
    return _plain(result)


@pipeline(name="gpu-digits")
def gpu_digits(epochs: int = 40, seed: int = 0, require_cuda: bool = True) -> dict[str, Any]:
    """Prepare on a CPU, train on the GPU, evaluate the trained weights on a CPU."""
    data = prepare(seed=seed)
    trained = train_gpu(
        dataset=data["dataset"], epochs=epochs, seed=seed, require_cuda=require_cuda
    )
    evaluated = evaluate_cpu(
        weights=trained["weights"], dataset=data["dataset"], gpu_report=trained["report"]
    )
    return {"report": trained["report"], "evaluation": evaluated}
