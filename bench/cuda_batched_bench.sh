#!/usr/bin/env bash
# GPU batched-decode benchmark (issue 6): the engine path forge serve runs, measured like
# llama-batched-bench (prompt 128 + 128 generated per sequence, B = 1, 8, 32, 64) on random-weight
# GGUFs in the issue's shapes. Run on the GPU machine after scripts/device-test.sh has built
# build/cuda: SHAPES="llama-3.2-1b llama-3-8b" TYPES=Q4_0 bash bench/cuda_batched_bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/opt/forge-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=build/cuda/bin
mkdir -p models
nvidia-smi --query-gpu=name --format=csv,noheader
for shape in ${SHAPES:-llama-3.2-1b llama-3-8b}; do
  for type in ${TYPES:-Q4_0}; do
    f="models/$shape-$type.gguf"
    [ -f "$f" ] || "$bin/make_random_model" "$shape" "$type" "$f" 2>/dev/null
    "$bin/forge" batched-bench -m "$f" --npp "${NPP:-128}" --ntg "${NTG:-128}" --npl "${NPL:-1,8,32,64}" --device cuda
  done
done
