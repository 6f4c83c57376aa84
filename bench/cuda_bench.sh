#!/usr/bin/env bash
# GPU benchmarks on random-weight GGUFs in the exact shapes of the issues' models. Run on the GPU
# machine after scripts/device-test.sh has built build/cuda. Models are written once into models/
# (git-ignored).
#   SHAPES="smollm2-135m llama-3.2-1b" TYPES="F16 Q8_0 Q4_0" bash bench/cuda_bench.sh
#       single sequence (issue 5): forge bench -p 512 -n 128 -r 3 --device cuda
#   BATCHED=1 SHAPES="llama-3.2-1b llama-3-8b" TYPES=Q4_0 bash bench/cuda_bench.sh
#       batched decode (issue 6): forge batched-bench --npp 128 --ntg 128 --npl 1,8,32,64
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
    if [[ "${BATCHED:-0}" == 1 ]]; then
      "$bin/forge" batched-bench -m "$f" --npp "${NPP:-128}" --ntg "${NTG:-128}" --npl "${NPL:-1,8,32,64}" --device cuda
    else
      "$bin/forge" bench -m "$f" -p "${PP:-512}" -n "${TG:-128}" -r "${REPS:-3}" --device cuda | tail -2
    fi
  done
done
