#!/usr/bin/env bash
# Runs on the GPU machine (through the device tool, carrying device-data): unpacks the Debian
# build dependencies into a private prefix, builds the `cuda` preset with every core and runs the
# whole ctest suite there, GPU tests included (SKIP_CTEST=1: build only).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/opt/forge-deps
mkdir -p "$prefix"
for f in device-data/debs/*.deb; do dpkg -x "$f" "$prefix"; done
lib="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The shared test data travels in device-data/shared (scripts/device-deps.sh copies it).
export FORGE_SHARED="$PWD/device-data/shared"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
cmake --preset cuda -DCMAKE_PREFIX_PATH="$prefix/usr" -DICU_ROOT="$prefix/usr" >/dev/null
cmake --build build/cuda -j"$(nproc)" 2>&1 | tail -3
build/cuda/bin/forge devices
[[ "${SKIP_CTEST:-0}" == 1 ]] && exit 0  # build only (for a benchmark on a fresh machine)
ctest --test-dir build/cuda -j8 --output-on-failure 2>&1 | tail -15
