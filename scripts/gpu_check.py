"""One-shot hardware check: mlkube's embedded platform on a real NVIDIA GPU.

    PYTHONPATH=src python3 scripts/gpu_check.py --out DIR      (or: bash scripts/gpu_check.sh)

Starts an `EmbeddedPlatform` (SQLite, local runtime, HTTPS API on loopback) in this process,
submits pipeline runs through the SDK client as a user would, waits for them, and checks:

(a) detect    `detect_gpus()` finds the GPU through NVML (model, memory, UUID), agrees with
              `nvidia-smi -L`, and the platform's node reports the same GPUs.
(b) pin       a step asking for `nvidia.com/gpu: 1` is granted that GPU (status placement), its
              CUDA_VISIBLE_DEVICES is exactly the GPU's UUID, and torch in the step sees one
              device, whose name and UUID are the NVML ones.
(c) train     a pipeline prepare (CPU) -> train_gpu (GPU) -> evaluate_cpu (CPU) succeeds: an MLP
              trains on digits on `cuda`, its loss falls, test accuracy >= 0.90, and the
              weights flow to the CPU step, which gets the same accuracy with numpy.
(d) cpu-only  a step asking for no GPU has CUDA_VISIBLE_DEVICES set to "" and no GPU in its
              placement; torch there says `cuda.is_available() == False`, 0 devices.
(e) too-many  a step asking for one GPU more than the node has (2 on a 1-GPU node) is refused:
              today the API's admission check answers 422 Invalid, cause reason
              "Unschedulable", and stores nothing. The controller's own path is checked too,
              with the same run written straight to the store (as a run stored before the
              node changed would be): the step must end Failed/Unschedulable, never started.
(f) gpuModel  `gpuModel: MI300X` is refused like (e), naming the model; `gpuModel` set to the
              detected model's short name (e.g. "H200"; matching is a case-insensitive
              substring of the NVML name) runs, on that GPU.
(g) gpu+mem   a GPU step that also asks for `memory: 4Gi` (a quarter of the node's memory on a
              small node) succeeds and CUDA starts in it (a context on the device). The limit
              must be a memory cgroup or the runtime's sampling of resident memory, never
              RLIMIT_AS: CUDA's address-space reservations do not fit under one.

Without an NVIDIA GPU the GPU checks report "no NVIDIA GPU detected" and are not run; (d) and
(e) still run, and the exit status is 1. `--simulate-gpu` (local rehearsal only) gives the
runtime a fake GPU so every pipeline runs, training on the CPU; torch-on-CUDA assertions are
then skipped and such checks say SIM.

Writes DIR/gpu_check.json (everything), DIR/gpu_check_steps.log (each step's log) and
DIR/gpu_check_platform.log; prints a summary table last. Exit status: 0 all passed,
1 a check failed or was skipped, 2 the script itself broke, 3 mlkube would not import.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform as pyplatform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

try:
    import gpu_check_steps as steps

    from mlkube.api.errors import ApiError, NotFound
    from mlkube.api.kinds import PIPELINE_RUN
    from mlkube.api.meta import GROUP_VERSION
    from mlkube.runtime.base import GpuDevice
    from mlkube.runtime.local.gpus import detect_gpus
    from mlkube.runtime.local.runtime import LocalRuntime
    from mlkube.sdk import Pipeline, pipeline, step
    from mlkube.sdk.client import Client
    from mlkube.server.embedded import EmbeddedPlatform
    from mlkube.server.objects import for_create, validated
except ImportError as exc:  # a missing dependency: say which, plainly, and stop
    print(f"FAIL: cannot import mlkube or its dependencies: {exc!r}")
    print(f"sys.path: {sys.path}")
    raise SystemExit(3) from None

NAMESPACE = "default"
FINISHED = ("Succeeded", "Failed")
MISMATCHED_MODEL = "MI300X"
SIMULATED_GPU = GpuDevice(
    index=0,
    vendor="nvidia",
    model="NVIDIA H200 (simulated)",
    memory_bytes=141 << 30,
    uuid="GPU-00000000-0000-4000-8000-000000000000",
)
MIN_ACCURACY = 0.90
log = logging.getLogger("gpu_check")


# -- results ---------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the summary: PASS, FAIL, SKIP (could not run) or SIM (passed against a
    simulated GPU)."""

    key: str
    title: str
    status: str = "PASS"
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def close(self, *, simulated: bool = False) -> Check:
        """Settle the status from the problems found (SKIP stays as it is)."""
        if self.status == "SKIP":
            return self
        self.status = "FAIL" if self.problems else ("SIM" if simulated else "PASS")
        if self.problems and not self.summary:
            self.summary = self.problems[0]
        return self


@dataclass
class Submission:
    """What happened to one run we asked for: created, or refused with an API error."""

    name: str
    created: bool = False
    error: dict[str, Any] | None = None
    run: dict[str, Any] | None = None  # the final object, once fetched


def api_error_facts(err: ApiError) -> dict[str, Any]:
    return {
        "type": type(err).__name__,
        "code": err.code,
        "reason": err.reason,
        "message": err.message,
        "causes": [
            {"field": c.field, "message": c.message, "reason": c.reason} for c in err.causes
        ],
    }


# -- building and submitting runs ------------------------------------------------------------


def probe_pipeline(name: str, timeout_s: float = steps.STEP_TIMEOUT_S, **resources: Any) -> Any:
    """A one-step pipeline running `steps.probe` with the given `step(...)` resources."""
    probe_step = step(cpu="1", cache=False, timeout_seconds=timeout_s, **resources)(steps.probe)

    def body() -> Any:
        return probe_step(label=name)

    return pipeline(body, name=name)


def run_body(name: str, pipe: Pipeline, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The PipelineRun that `mlkube run FILE.py` would create for `pipe` (compact spec)."""
    spec = pipe.compile().model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
    )
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "pipelineSpec": spec,
            "params": [{"name": k, "value": v} for k, v in (params or {}).items()],
            "cache": False,
        },
    }


def submit(client: Client, body: dict[str, Any]) -> Submission:
    """Create the run through the API, as any user would; an API refusal is recorded."""
    sub = Submission(body["metadata"]["name"])
    try:
        client.create(body)
        sub.created = True
    except ApiError as err:
        sub.error = api_error_facts(err)
    return sub


def store_directly(plat: EmbeddedPlatform, body: dict[str, Any]) -> Submission:
    """Write the run straight to the store, past the API's admission checks (validation
    still applies), so the controller's own handling of an impossible request is exercised."""
    sub = Submission(body["metadata"]["name"])
    try:
        _model, stored = validated(PIPELINE_RUN, for_create(PIPELINE_RUN, body, NAMESPACE))
        plat.store.create(PIPELINE_RUN.resource, stored)
        sub.created = True
    except ApiError as err:
        sub.error = api_error_facts(err)
    return sub


def wait_all(client: Client, subs: list[Submission], deadline: float, t0: float) -> bool:
    """Poll until every created run has finished or `deadline` passes; print phase changes."""
    pending = {s.name: s for s in subs if s.created}
    seen: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for name, sub in list(pending.items()):
            try:
                run = client.get("pipelineruns", name, namespace=NAMESPACE)
            except ApiError as err:
                log.warning("cannot read run %s: %s", name, err)
                continue
            sub.run = run
            status = run.get("status") or {}
            for st in status.get("steps") or []:
                gpus = (st.get("placement") or {}).get("gpus")
                line = f"{st.get('phase')} {st.get('reason') or ''}".strip()
                key = f"{name}/{st['name']}"
                if seen.get(key) != line:
                    seen[key] = line
                    where = f" gpus={gpus}" if gpus else ""
                    print(f"  [{time.monotonic() - t0:6.1f}s] {key}: {line}{where}", flush=True)
            if status.get("phase") in FINISHED:
                print(
                    f"  [{time.monotonic() - t0:6.1f}s] {name}: run {status['phase']}", flush=True
                )
                del pending[name]
        if pending:
            time.sleep(0.5)
    for name in pending:
        print(f"  run {name} did not finish before the deadline", flush=True)
    return not pending


# -- evaluating ------------------------------------------------------------------------------


def step_status(sub: Submission | None, name: str) -> dict[str, Any]:
    if sub is None or sub.run is None:
        return {}
    return next((s for s in sub.run["status"].get("steps") or [] if s["name"] == name), {})


def output(st: dict[str, Any], name: str = "output") -> Any:
    """An inline output's value (reports are plain JSON, so they are inline); None if absent."""
    for out in st.get("outputs") or []:
        if out["name"] == name:
            return out.get("value")
    return None


def run_phase(sub: Submission | None) -> str:
    if sub is None or sub.run is None:
        return "not run"
    return str((sub.run.get("status") or {}).get("phase") or "Pending")


def short_uuid(uuid: str | None) -> str:
    """NVML says "GPU-8f1c...-..."; torch's `props.uuid` prints without the prefix."""
    return (uuid or "").removeprefix("GPU-").replace("-", "").lower()


def model_hint(model: str) -> str:
    """The short model name gpuModel can match by substring: "NVIDIA H200" -> "H200"."""
    tokens = [t for t in model.replace("NVIDIA", " ").split() if any(c.isdigit() for c in t)]
    return tokens[0] if tokens else model


def nvml_diagnosis() -> str:
    """Why NVML finds what it finds, in a few words (for when it finds nothing)."""
    try:
        import pynvml
    except ImportError as exc:
        return f"pynvml not importable ({exc})"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return f"nvmlInit failed: {exc!r}"
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        count = pynvml.nvmlDeviceGetCount()
        return f"NVML ok: driver {driver!s}, {count} device(s)"
    except Exception as exc:
        return f"NVML query failed: {exc!r}"
    finally:
        pynvml.nvmlShutdown()


def nvidia_smi_list() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(nvidia-smi failed: {exc})"
    return (done.stdout + done.stderr).strip()


def check_detect(gpus: list[GpuDevice], smi: str | None, nvml: str, node: Any) -> Check:
    check = Check("a", "NVML detects the GPU (detect_gpus)")
    check.facts = {
        "detected": [asdict(g) for g in gpus],
        "nvml": nvml,
        "nvidia_smi_L": smi,
        "node": {
            "name": node.name,
            "cpus": len(node.cpus),
            "memory_bytes": node.memory_bytes,
            "gpus": [asdict(g) for g in node.gpus],
        }
        if node is not None
        else None,
    }
    nvidia = [g for g in gpus if g.vendor == "nvidia"]
    if not nvidia:
        check.status = "FAIL"
        check.summary = f"no NVIDIA GPU detected ({nvml})"
        check.problems.append(check.summary)
        return check
    for g in nvidia:
        check.expect(bool(g.uuid.startswith("GPU-")), f"GPU {g.index}: odd UUID {g.uuid!r}")
        check.expect(g.memory_bytes > 1 << 30, f"GPU {g.index}: memory {g.memory_bytes} B")
        if smi is not None:
            check.expect(g.uuid in smi, f"GPU {g.index}: UUID {g.uuid} not in nvidia-smi -L")
    if node is not None:
        node_gpus = sorted((s.index, s.model) for s in node.gpus)
        check.expect(
            node_gpus == sorted((g.index, g.model) for g in gpus),
            f"platform node GPUs {node_gpus} differ from detect_gpus()",
        )
    first = nvidia[0]
    check.summary = (
        f"{len(nvidia)} GPU: {first.model}, {first.memory_bytes >> 20} MiB, {first.uuid}"
        + (f" (+{len(nvidia) - 1} more)" if len(nvidia) > 1 else "")
    )
    return check.close()


def check_pin(sub: Submission | None, by_index: dict[int, GpuDevice], real: bool) -> Check:
    check = Check("b", "gpu: 1 step is pinned to that GPU")
    train = step_status(sub, "train-gpu")
    report = output(train, "report") if train else None
    placement = train.get("placement") or {}
    check.facts = {"placement": placement, "step_phase": train.get("phase"), "report": report}
    if not check.expect(isinstance(report, dict), f"no report from train-gpu: {_why(train)}"):
        return check.close(simulated=not real)
    assert isinstance(report, dict)
    granted = placement.get("gpus") or []
    check.expect(len(granted) == 1, f"placement.gpus is {granted}, expected one GPU")
    gpu = by_index.get(granted[0]) if len(granted) == 1 else None
    env = report.get("env") or {}
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if gpu is not None:
        check.expect(
            visible == gpu.uuid, f"CUDA_VISIBLE_DEVICES={visible!r}, expected {gpu.uuid!r}"
        )
    check.expect(env.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID", "CUDA_DEVICE_ORDER not set")
    if real:
        check.expect(report.get("device_count") == 1, f"torch sees {report.get('device_count')}")
        if gpu is not None:
            name = str(report.get("device_name") or "")
            check.expect(
                name.lower() == gpu.model.lower() or gpu.model.lower() in name.lower(),
                f"torch device name {name!r} is not the NVML model {gpu.model!r}",
            )
            torch_uuid = report.get("device_uuid")
            if torch_uuid:
                check.expect(
                    short_uuid(torch_uuid) == short_uuid(gpu.uuid),
                    f"torch device UUID {torch_uuid} is not the NVML one {gpu.uuid}",
                )
            else:
                check.facts["note"] = "torch gives no device UUID; compared names only"
    check.summary = (
        f"placement gpus={granted} CUDA_VISIBLE_DEVICES={visible} "
        f"torch count={report.get('device_count')} name={report.get('device_name')}"
    )
    return check.close(simulated=not real)


def check_train(sub: Submission | None, real: bool) -> Check:
    check = Check("c", "GPU training pipeline, outputs to a CPU step")
    prepare = step_status(sub, "prepare")
    train = step_status(sub, "train-gpu")
    evaluate = step_status(sub, "evaluate-cpu")
    report = output(train, "report") if train else None
    evaluation = output(evaluate) if evaluate else None
    check.facts = {
        "run_phase": run_phase(sub),
        "steps": {
            n: {k: s.get(k) for k in ("phase", "reason", "message", "startTime", "finishTime")}
            for n, s in (("prepare", prepare), ("train-gpu", train), ("evaluate-cpu", evaluate))
        },
        "report": report,
        "evaluation": evaluation,
        "dataset_summary": output(prepare, "summary") if prepare else None,
    }
    check.expect(run_phase(sub) == "Succeeded", f"run is {run_phase(sub)}: {_run_why(sub)}")
    if not isinstance(report, dict) or not isinstance(evaluation, dict):
        check.problems.append("no training report or evaluation to check")
        return check.close(simulated=not real)
    if real:
        check.expect(report.get("device") == "cuda", f"trained on {report.get('device')}")
    gpu_acc = float(report.get("test_accuracy") or 0.0)
    cpu_acc = float(evaluation.get("cpu_test_accuracy") or 0.0)
    check.expect(gpu_acc >= MIN_ACCURACY, f"test accuracy {gpu_acc} < {MIN_ACCURACY}")
    check.expect(
        float(report.get("final_loss", 9.9)) < float(report.get("first_loss", 0.0)),
        "loss did not fall",
    )
    check.expect(
        abs(cpu_acc - gpu_acc) <= 0.02,
        f"CPU step's accuracy {cpu_acc} differs from the GPU step's {gpu_acc}",
    )
    check.summary = (
        f"{report.get('device_name') or report.get('device')}: {report.get('epochs')} epochs "
        f"({report.get('steps')} steps) in {report.get('train_s')}s, loss "
        f"{report.get('first_loss')}->{report.get('final_loss')}, test acc {gpu_acc} "
        f"(CPU step: {cpu_acc}); cuda init {report.get('cuda_init_s')}s, "
        f"bf16 matmul ~{report.get('matmul_bf16_tflops')} TFLOP/s"
    )
    return check.close(simulated=not real)


def check_cpu_only(cpu: Submission | None, train: Submission | None) -> Check:
    check = Check("d", "CPU-only step sees no GPU")
    probe = step_status(cpu, "probe")
    report = output(probe) if probe else None
    evaluation = output(step_status(train, "evaluate-cpu")) if train else None
    check.facts = {
        "run_phase": run_phase(cpu),
        "placement": probe.get("placement"),
        "probe": report,
        "evaluate_cpu_view": evaluation,
    }
    views = [("cpu-only probe", report)]
    if isinstance(evaluation, dict):  # extra evidence, when the training pipeline got that far
        views.append(("evaluate-cpu", evaluation))
    for label, view in views:
        if not check.expect(isinstance(view, dict), f"{label}: no report ({_run_why(cpu)})"):
            continue
        assert isinstance(view, dict)
        visible = (view.get("env") or {}).get("CUDA_VISIBLE_DEVICES")
        check.expect(visible == "", f"{label}: CUDA_VISIBLE_DEVICES={visible!r}, expected ''")
        torch_view = view.get("torch") or {}
        if torch_view.get("torch"):
            check.expect(
                torch_view.get("cuda_available") is False and torch_view.get("device_count") == 0,
                f"{label}: torch sees CUDA: {torch_view}",
            )
        else:
            check.facts.setdefault("notes", []).append(
                f"{label}: torch not installed, only CUDA_VISIBLE_DEVICES checked"
            )
    check.expect(
        not (probe.get("placement") or {}).get("gpus"), f"placement {probe.get('placement')}"
    )
    torch_view = (report or {}).get("torch") or {}
    check.summary = (
        f"CUDA_VISIBLE_DEVICES={((report or {}).get('env') or {}).get('CUDA_VISIBLE_DEVICES')!r} "
        f"torch.cuda.is_available()={torch_view.get('cuda_available', 'n/a (no torch)')} "
        f"count={torch_view.get('device_count', 'n/a')}"
    )
    return check.close()


def check_refused(
    check: Check,
    api: Submission,
    stored: Submission | None,
    must_mention: tuple[str, ...],
    client: Client,
) -> Check:
    """(e) and (f)-mismatch: the API refuses the run (and stores nothing); the controller,
    given the run anyway, fails the step as Unschedulable without starting it."""
    check.facts = {"api": {"created": api.created, "error": api.error}}
    check.expect(not api.created, "the API accepted the run")
    message = ""
    if api.error is not None:
        causes = api.error.get("causes") or []
        reasons = [c.get("reason") for c in causes]
        message = "; ".join(c.get("message", "") for c in causes) or api.error["message"]
        check.expect(api.error["code"] == 422, f"HTTP {api.error['code']}, expected 422")
        check.expect("Unschedulable" in reasons, f"cause reasons {reasons}, no Unschedulable")
        for words in must_mention:
            check.expect(words in message, f"reason does not say {words!r}")
        try:
            client.get("pipelineruns", api.name, namespace=NAMESPACE)
            check.problems.append("a refused run was stored anyway")
        except NotFound:
            pass
    ctl = ""
    if stored is not None:
        probe = step_status(stored, "probe")
        facts = {k: probe.get(k) for k in ("phase", "reason", "message", "attempts", "startTime")}
        facts["placement"] = probe.get("placement")
        facts["run_phase"] = run_phase(stored)
        facts["run_conditions"] = ((stored.run or {}).get("status") or {}).get("conditions")
        check.facts["controller"] = facts
        check.expect(stored.created, f"could not store the run: {stored.error}")
        check.expect(
            (probe.get("phase"), probe.get("reason")) == ("Failed", "Unschedulable"),
            f"controller: step {probe.get('phase')}/{probe.get('reason')}, "
            "expected Failed/Unschedulable",
        )
        check.expect(not probe.get("startTime") and not probe.get("attempts"), "step started")
        check.expect(run_phase(stored) == "Failed", f"controller: run {run_phase(stored)}")
        started = "started" if probe.get("startTime") else "never started"
        same = " (same reason)" if probe.get("message") and probe["message"] in message else ""
        ctl = f" | controller: step {probe.get('phase')}/{probe.get('reason')}, {started}{same}"
    check.summary = f"API {api.error['code'] if api.error else 'accepted'}: {message}{ctl}"
    return check.close()


def check_model_match(
    sub: Submission | None, hint: str, by_index: dict[int, GpuDevice], real: bool
) -> Check:
    check = Check("f2", f"gpuModel={hint!r} (matching) runs")
    probe = step_status(sub, "probe")
    report = output(probe) if probe else None
    check.facts = {
        "run_phase": run_phase(sub),
        "placement": probe.get("placement"),
        "probe": report,
    }
    check.expect(run_phase(sub) == "Succeeded", f"run is {run_phase(sub)}: {_run_why(sub)}")
    granted = (probe.get("placement") or {}).get("gpus") or []
    check.expect(len(granted) == 1, f"placement.gpus is {granted}")
    if isinstance(report, dict) and len(granted) == 1 and granted[0] in by_index:
        gpu = by_index[granted[0]]
        visible = (report.get("env") or {}).get("CUDA_VISIBLE_DEVICES")
        check.expect(visible == gpu.uuid, f"CUDA_VISIBLE_DEVICES={visible!r}")
        if real:
            torch_view = report.get("torch") or {}
            check.expect(
                torch_view.get("device_count") == 1 and torch_view.get("context_ok") is True,
                f"torch in the step: {torch_view}",
            )
    torch_view = (report or {}).get("torch") or {}
    devices = torch_view.get("devices") or [{}]
    check.summary = (
        f"{run_phase(sub)} on gpus={granted}, torch count={torch_view.get('device_count')} "
        f"name={devices[0].get('name')}"
    )
    return check.close(simulated=not real)


def check_memory_limited(
    sub: Submission | None, memory: str, platform_log: Path, real: bool
) -> Check:
    check = Check("g", f"gpu: 1 + memory: {memory}: CUDA starts")
    probe = step_status(sub, "probe")
    report = output(probe) if probe else None
    notes = log_lines(platform_log, "memory limits of GPU workloads")
    check.facts = {"run_phase": run_phase(sub), "step": probe, "probe": report, "log": notes}
    check.expect(run_phase(sub) == "Succeeded", f"run is {run_phase(sub)}: {_run_why(sub)}")
    if not check.expect(isinstance(report, dict), f"no report from the step: {_why(probe)}"):
        return check.close(simulated=not real)
    assert isinstance(report, dict)
    torch_view = report.get("torch") or {}
    process = report.get("process") or {}
    memory_cgroup = next(
        (line for line in str(process.get("cgroup", "")).splitlines() if ":memory:" in line), ""
    )
    if "mlkube-" in memory_cgroup:
        how = "a cgroup v1 memory limit"
    elif process.get("rlimit_as"):
        how = f"RLIMIT_AS={process['rlimit_as']}"
    else:
        how = "the runtime's sampling (no memory cgroup, no RLIMIT_AS)"
    check.expect(not process.get("rlimit_as"), f"the GPU step got {how}")
    usable = torch_view.get("context_ok") is True and torch_view.get("device_count") == 1
    if real:
        why = torch_view.get("cuda_error") or torch_view.get("import_error") or torch_view
        check.expect(usable, f"CUDA did not start under the memory limit: {why}")
    cuda = ("ok" if usable else "NOT started") if real else "not checked (simulated GPU)"
    check.summary = f"step {probe.get('phase')}, CUDA context {cuda}, memory enforced by {how}"
    return check.close(simulated=not real)


def log_lines(path: Path, needle: str) -> list[str]:
    """The lines of `path` that contain `needle` (none if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if needle in line]


def _why(st: dict[str, Any]) -> str:
    if not st:
        return "step not found"
    return f"step {st.get('phase')}/{st.get('reason')}: {st.get('message')}"


def _run_why(sub: Submission | None) -> str:
    if sub is None:
        return "not submitted"
    if sub.error is not None:
        return f"refused: {sub.error['message']}"
    if sub.run is None:
        return "no status"
    bad = [s for s in sub.run["status"].get("steps") or [] if s.get("phase") != "Succeeded"]
    return "; ".join(f"{s['name']} {_why(s)}" for s in bad) or "all steps succeeded"


def skipped(key: str, title: str, why: str) -> Check:
    return Check(key, title, status="SKIP", summary=why, problems=[why])


# -- output ----------------------------------------------------------------------------------


def collect_logs(client: Client, subs: list[Submission], path: Path) -> None:
    """Every started step's log (the last 20,000 characters of each) into one file."""
    with path.open("w", encoding="utf-8") as handle:
        for sub in subs:
            if sub.run is None:
                continue
            for st in sub.run["status"].get("steps") or []:
                if not st.get("attempts"):
                    continue
                try:
                    text = "".join(client.logs(sub.name, step=st["name"], namespace=NAMESPACE))
                except ApiError as err:
                    text = f"(no log: {err})"
                handle.write(f"===== {sub.name} / {st['name']} ({st.get('phase')})\n")
                handle.write(text[-20_000:].rstrip() + "\n\n")


def print_summary(checks: list[Check], elapsed: float, code: int) -> None:
    width = max((len(f"({c.key}) {c.title}") for c in checks), default=40) + 2
    print("\n" + "=" * 100)
    print(f"mlkube GPU check - summary ({elapsed:.1f}s)")
    print("=" * 100)
    for c in checks:
        print(f"{f'({c.key}) {c.title}':<{width}}{c.status:<5} {c.summary}")
        if c.status not in ("PASS", "SIM"):
            for problem in c.problems:
                if problem != c.summary:
                    print(f"{'':<{width}}      - {problem}")
    failed = [c.key for c in checks if c.status in ("FAIL", "SKIP")]
    verdict = "ALL PASSED" if not failed and code == 0 else f"NOT PASSED: {', '.join(failed)}"
    print("-" * 100)
    print(f"overall: {verdict} (exit {code})")


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out")
    parser.add_argument("--deadline", type=float, default=190.0, help="seconds for everything")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--simulate-gpu", action="store_true", help="local rehearsal only")
    parser.add_argument("--keep-data", action="store_true", help="keep the platform's data dir")
    args = parser.parse_args(argv)

    # An outer `timeout` sends SIGTERM: leave through `finally`, so the platform is stopped and
    # the summary is still printed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    t0 = time.monotonic()
    deadline = t0 + args.deadline
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Append to an emptied file rather than open it with "w": the API server's start
    # (uvicorn's dictConfig) closes every existing handler, and a "w" file handler, once
    # closed, never reopens, so the platform log would stop at the server's start.
    platform_log = out / "gpu_check_platform.log"
    platform_log.write_text("")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=str(platform_log),
        filemode="a",
    )
    logging.getLogger("mlkube").setLevel(logging.DEBUG)  # e.g. why NVML did not start
    loud = logging.StreamHandler()
    loud.setLevel(logging.WARNING)
    logging.getLogger().addHandler(loud)

    real = not args.simulate_gpu
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(),
        "simulated_gpu": not real,
        "host": pyplatform.node(),
        "python": sys.version,
        "executable": sys.executable,
        "env": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "PYTHONPATH")},
    }
    checks: list[Check] = []
    subs: dict[str, Submission] = {}
    plat: EmbeddedPlatform | None = None
    data_dir = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    code = 2
    try:
        # (a) what NVML finds, before any platform exists
        print(f"[{time.monotonic() - t0:6.1f}s] detecting GPUs through NVML ...", flush=True)
        detected = list(detect_gpus())
        smi = nvidia_smi_list()
        nvml = nvml_diagnosis()
        nvidia = [g for g in detected if g.vendor == "nvidia"]
        runtime_gpus = [SIMULATED_GPU] if not real else None
        by_index = {g.index: g for g in ([SIMULATED_GPU] if not real else nvidia)}
        have_gpu = bool(by_index)
        print(f"  detect_gpus(): {[asdict(g) for g in detected] or 'no GPU'}; {nvml}", flush=True)

        plat = EmbeddedPlatform(data_dir, port=0, runtime=LocalRuntime(gpus=runtime_gpus))
        plat.start()
        node = plat.manager.runs.node
        print(
            f"[{time.monotonic() - t0:6.1f}s] platform up at {plat.url}; node {node.name}: "
            f"{len(node.cpus)} CPUs, {node.memory_bytes >> 20} MiB, GPUs {list(node.gpus)}",
            flush=True,
        )
        detect = check_detect(detected, smi, nvml, node)
        if not real:
            detect.status = "SIM" if not nvidia else detect.status
            detect.summary = f"(real: {detect.summary}); runtime given {SIMULATED_GPU.model}"
            detect.problems = []
        checks.append(detect)

        first = next(iter(by_index.values()), None)
        hint = model_hint(first.model) if first else ""
        too_many = max(2, len(node.gpus) + 1)
        memory = "4Gi" if node.memory_bytes >= 16 << 30 else f"{node.memory_bytes >> 22}Mi"
        results["plan"] = {"gpu_model_match": hint, "too_many_gpus": too_many, "memory": memory}

        with Client(plat.url, plat.admin_token(), ca_data=plat.ca_pem, timeout=60) as client:
            # Everything is submitted at once; the node's queue serializes the GPU steps.
            bodies: list[tuple[str, dict[str, Any]]] = []
            if have_gpu:
                params = {"epochs": args.epochs, "require_cuda": real}
                bodies.append(("gpu-train", run_body("gpu-train", steps.gpu_digits, params)))
            bodies.append(("cpu-only", run_body("cpu-only", probe_pipeline("cpu-only"))))
            if have_gpu:
                match = probe_pipeline("model-match", gpu=1, gpu_model=hint)
                bodies.append(("model-match", run_body("model-match", match)))
                mem = probe_pipeline("gpu-memory", gpu=1, memory=memory)
                bodies.append(("gpu-memory", run_body("gpu-memory", mem)))
            for name, body in bodies:
                subs[name] = submit(client, body)
            too_many_body = run_body("two-gpus", probe_pipeline("two-gpus", gpu=too_many))
            mismatch_body = run_body(
                "model-mismatch",
                probe_pipeline("model-mismatch", gpu=1, gpu_model=MISMATCHED_MODEL),
            )
            subs["two-gpus"] = submit(client, too_many_body)
            subs["model-mismatch"] = submit(client, mismatch_body)
            for name, body in (("two-gpus", too_many_body), ("model-mismatch", mismatch_body)):
                body["metadata"]["name"] = f"{name}-stored"
                subs[f"{name}-stored"] = store_directly(plat, body)
            for sub in subs.values():
                state = "created" if sub.created else f"refused: {(sub.error or {}).get('message')}"
                print(f"[{time.monotonic() - t0:6.1f}s] {sub.name}: {state}", flush=True)
            finished = wait_all(client, list(subs.values()), deadline, t0)
            results["all_finished"] = finished

            no_gpu = "no NVIDIA GPU detected: not run"
            get: Callable[[str], Submission | None] = subs.get
            if have_gpu:
                checks.append(check_pin(get("gpu-train"), by_index, real))
                checks.append(check_train(get("gpu-train"), real))
            else:
                checks.append(skipped("b", "gpu: 1 step is pinned to that GPU", no_gpu))
                checks.append(skipped("c", "GPU training pipeline, outputs to a CPU step", no_gpu))
            checks.append(check_cpu_only(get("cpu-only"), get("gpu-train")))
            checks.append(
                check_refused(
                    Check("e", f"{too_many} GPUs on a {len(node.gpus)}-GPU node refused"),
                    subs["two-gpus"],
                    get("two-gpus-stored"),
                    (f"requests {too_many} nvidia.com/gpu", f"has {len(node.gpus)} matching"),
                    client,
                )
            )
            checks.append(
                check_refused(
                    Check("f1", f"gpuModel={MISMATCHED_MODEL!r} (no match) refused"),
                    subs["model-mismatch"],
                    get("model-mismatch-stored"),
                    (f"of model {MISMATCHED_MODEL!r}", "has 0 matching"),
                    client,
                )
            )
            if have_gpu:
                checks.append(check_model_match(get("model-match"), hint, by_index, real))
                checks.append(check_memory_limited(get("gpu-memory"), memory, platform_log, real))
            else:
                checks.append(skipped("f2", "gpuModel (matching) runs", no_gpu))
                checks.append(skipped("g", f"gpu: 1 + memory: {memory}: CUDA starts", no_gpu))
            if not finished:
                for c in checks:
                    if c.status not in ("PASS", "SIM"):
                        c.problems.append("some runs had not finished by the deadline")
            collect_logs(client, list(subs.values()), out / "gpu_check_steps.log")
        failed = any(c.status in ("FAIL", "SKIP") for c in checks)
        code = 1 if failed else 0
    except Exception:
        results["error"] = traceback.format_exc()
        print(results["error"], flush=True)
        checks.append(Check("!", "the check script itself", status="FAIL", summary="crashed"))
        code = 2
    finally:
        if code == 2 and not any(c.key == "!" for c in checks):
            why = "stopped (SIGTERM?) before the checks were evaluated"
            checks.append(Check("!", "the check script itself", status="FAIL", summary=why))
        if plat is not None:
            try:
                plat.stop()
            except Exception:
                results["stop_error"] = traceback.format_exc()
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            results["data_dir"] = str(data_dir)
        results["duration_s"] = round(time.monotonic() - t0, 1)
        results["exit_code"] = code
        results["checks"] = [asdict(c) for c in checks]
        results["runs"] = {
            n: {"created": s.created, "error": s.error, "object": s.run} for n, s in subs.items()
        }
        (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
        print_summary(checks, time.monotonic() - t0, code)
        print(f"details: {out / 'gpu_check.json'}, step logs: {out / 'gpu_check_steps.log'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
