#!/usr/bin/env bash
# Runs on the GPU machine after scripts/device-test.sh has built build/cuda there (same lease):
# the transformers comparison of every architecture (tests/device/compare_transformers.py) and
# LoRA merging against peft (tests/device/compare_peft.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/opt/forge-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cmake --build build/cuda -j"$(nproc)" --target forge 2>&1 | tail -1
status=0
python3 tests/device/compare_transformers.py build/cuda/bin/forge "${1:-/tmp/forge-hf}" || status=1
python3 tests/device/compare_peft.py build/cuda/bin/forge "${1:-/tmp/forge-hf}/peft" || status=1
exit $status
