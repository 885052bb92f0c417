#!/usr/bin/env bash
# One-shot hardware check of mlkube's GPU handling (see scripts/gpu_check.py for the checks).
#
#   OUT=/tmp/gpucheck bash scripts/gpu_check.sh [gpu_check.py options]
#
# mlkube is imported from src/ (added to PYTHONPATH here), so it need not be installed.
# Environment: OUT (results folder, default /tmp/gpu_check_out), PYTHON (default python3),
# GPU_CHECK_TIMEOUT (seconds, default 240). Exits with gpu_check.py's status (124: timed out).
set -u
cd "$(dirname "$0")/.."

OUT="${OUT:-/tmp/gpu_check_out}"
PY="${PYTHON:-python3}"
LIMIT="${GPU_CHECK_TIMEOUT:-240}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"

echo "== $(date -u +%FT%TZ) on $(hostname): $(nproc) CPUs, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"
echo "== nvidia-smi -L"
nvidia-smi -L 2>&1 || echo "(nvidia-smi not available)"

echo "== python and packages"
"$PY" - <<'EOF'
import importlib.metadata as md
import importlib.util
import sys

print(f"python {sys.version.split()[0]} at {sys.executable}")
dists = ("torch", "numpy", "scikit-learn", "nvidia-ml-py", "pydantic", "pydantic-core",
         "typing-extensions", "starlette", "uvicorn", "anyio", "httpx", "h11", "click", "rich",
         "PyYAML", "psutil", "cryptography", "cffi", "uvloop")
for dist in dists:
    try:
        print(f"  {dist:18} {md.version(dist)}")
    except md.PackageNotFoundError:
        print(f"  {dist:18} MISSING")
spec = importlib.util.find_spec("mlkube")
print(f"  mlkube from {spec.origin if spec else 'NOWHERE'}")
try:
    import torch
    print(f"  torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"devices seen without restriction: {torch.cuda.device_count()}")
except Exception as exc:  # report, the checks say the rest
    print(f"  torch unusable: {exc!r}")
EOF

echo "== gpu_check.py (limit ${LIMIT}s)"
set -o pipefail
timeout -k 10 "$LIMIT" "$PY" scripts/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.out"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "gpu_check.py TIMED OUT after ${LIMIT}s (exit $rc); partial results may be in $OUT"
fi
exit "$rc"
