#!/usr/bin/env bash
# A compiled binary (forge compile) against `forge run` on the same random-weight model, device,
# prompt and thread count: decode and prompt tok/s, the median of REPS runs of each, alternated.
# Prints the binary's size too (it does not depend on the model).
#   DEVICE=cpu BIN=build/release/bin SHAPES=smollm2-135m TYPES="Q8_0 Q4_0" bash bench/compiled_bench.sh
#   DEVICE=cuda BIN=build/cuda/bin SHAPES="smollm2-135m llama-3.2-1b" TYPES=Q4_0 bash bench/compiled_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/opt/forge-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
device=${DEVICE:-cpu}
bin=${BIN:-build/release/bin}
n=${N:-128}
mkdir -p models/compiled
# "prompt: 5 tokens in ... (X tok/s) | generation: 128 tokens in ... (Y tok/s) | ..." -> "X Y"
speeds() { sed -n 's/.*prompt: .*(\([0-9.]*\) tok\/s) | generation: .*(\([0-9.]*\) tok\/s).*/\1 \2/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
prompt="Once upon a time there was a little robot who wanted to learn how to paint the sky at night"
for shape in ${SHAPES:-smollm2-135m}; do
  for type in ${TYPES:-Q8_0 Q4_0}; do
    f="models/$shape-$type.gguf"
    [ -f "$f" ] || "$bin/make_random_model" "$shape" "$type" "$f" 2>/dev/null
    out="models/compiled/$shape-$type-$device"
    "$bin/forge" compile -m "$f" -o "$out" --target "$device" --name m -c 1024 > /dev/null 2>&1
    [ -f "$out/weights.bin" ] || "$bin/forge" export-weights -m "$f" -o "$out/weights.bin" > /dev/null 2>&1
    : > /tmp/forge_run.txt; : > /tmp/forge_compiled.txt
    for _ in $(seq "${REPS:-5}"); do
      "$bin/forge" run -m "$f" -p "$prompt" -n "$n" -c 1024 --ignore-eos --temp 0 --device "$device" 2>&1 >/dev/null | speeds >> /tmp/forge_run.txt
      "$out/m" "$out/weights.bin" "$f" "$prompt" -n "$n" -c 1024 --ignore-eos --temp 0 2>&1 >/dev/null | speeds >> /tmp/forge_compiled.txt
    done
    run_tg=$(cut -d' ' -f2 /tmp/forge_run.txt | median); comp_tg=$(cut -d' ' -f2 /tmp/forge_compiled.txt | median)
    run_pp=$(cut -d' ' -f1 /tmp/forge_run.txt | median); comp_pp=$(cut -d' ' -f1 /tmp/forge_compiled.txt | median)
    printf '%s %s %s: decode tok/s forge run %s, compiled %s (x%s); prompt tok/s %s, %s; binary %s bytes\n' \
      "$shape" "$type" "$device" "$run_tg" "$comp_tg" "$(awk "BEGIN {printf \"%.3f\", $comp_tg / $run_tg}")" \
      "$run_pp" "$comp_pp" "$(stat -c %s "$out/m")"
  done
done
