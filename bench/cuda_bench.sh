#!/usr/bin/env bash
# GPU benchmark (issue 5): random-weight GGUFs in the exact shapes of the issue's models, each
# type, `forge bench -p 512 -n 128 -r 3 --device cuda`. Run on the GPU machine after
# scripts/device-test.sh has built build/cuda: SHAPES="smollm2-135m llama-3.2-1b" TYPES="F16 Q8_0 Q4_0"
# bash bench/cuda_bench.sh. Models are written once into models/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/opt/forge-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=build/cuda/bin
mkdir -p models
nvidia-smi --query-gpu=name --format=csv,noheader
for shape in ${SHAPES:-smollm2-135m llama-3.2-1b llama-3-8b}; do
  for type in ${TYPES:-F16 Q8_0 Q4_0}; do
    f="models/$shape-$type.gguf"
    [ -f "$f" ] || "$bin/make_random_model" "$shape" "$type" "$f" 2>/dev/null
    "$bin/forge" bench -m "$f" -p "${PP:-512}" -n "${TG:-128}" -r "${REPS:-3}" --device cuda | tail -2
  done
done
