#!/usr/bin/env bash
# forge serve with and without speculative decoding on the GPU machine, after
# scripts/device-test.sh built build/cuda: a random-weight GGUF in one of the issues' shapes,
# loaded by bench/serve_load.py (128 prompt ids that repeat every 16, 128 generated tokens, greedy)
# at each concurrency, after a warm-up round; then forge batched-bench at the same sizes, the
# engine's figure without HTTP.
#   SHAPE=llama-3.2-1b TYPE=Q4_0 CONC="1 8 32" DRAFTS="none ngram self Q4_0" K=3 bash bench/serve_spec_bench.sh
# DRAFTS: none; ngram (prompt lookup); self (the model drafting for itself: every guess right, at
# one model pass per guess); or a type such as Q4_0 (the same weights quantised to it:
# make_random_model draws the same values for every type).
set -euo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/opt/forge-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=build/cuda/bin
shape=${SHAPE:-llama-3.2-1b} type=${TYPE:-Q4_0} k=${K:-3}
mkdir -p models
model() {
  local f="models/$shape-$1.gguf"
  [ -f "$f" ] || "$bin/make_random_model" "$shape" "$1" "$f" 2>/dev/null
  echo "$f"
}
target=$(model "$type")
nvidia-smi --query-gpu=name --format=csv,noheader
for conc in ${CONC:-1 8 32}; do
  for d in ${DRAFTS:-none ngram self}; do
    case $d in
      none) flags=() ;;
      ngram) flags=(--draft ngram --draft-n "$k") ;;
      self) flags=(--draft "$target" --draft-n "$k") ;;
      *) flags=(--draft "$(model "$d")" --draft-n "$k") ;;
    esac
    log=$(mktemp)
    "$bin/forge" serve -m "$target" -c 512 --parallel "$conc" --kv-tokens $((conc * 512)) --port 0 --device cuda "${flags[@]}" 2>"$log" &
    pid=$!
    until grep -q "listening on" "$log"; do
      kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
      sleep 0.5
    done
    url=$(grep -o "http://[0-9.:]*" "$log" | tail -1)
    load=(python3 bench/serve_load.py --url "$url" --concurrency "$conc" --prompt-tokens 128 --max-tokens 128 --vocab 32000 --repeat 16)
    "${load[@]}" --requests "$conc" >/dev/null  # warm-up: CUDA graphs, first allocations
    echo "== $shape $type, --parallel $conc, draft: $d${flags:+ (K=$k)}"
    "${load[@]}" --requests $((conc * ${ROUNDS:-3}))
    kill "$pid"
    wait "$pid" || true
  done
done
"$bin/forge" batched-bench -m "$target" --npp 128 --ntg 128 --npl "$(echo ${CONC:-1 8 32} | tr ' ' ',')" --device cuda
