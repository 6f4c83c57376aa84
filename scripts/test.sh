#!/usr/bin/env bash
# Every test: installs dependencies, then
#   1. release build (CUDA code compiled too when nvcc is present) and the whole ctest suite;
#      tests labelled `cuda` report "skipped: no GPU" on machines without one;
#   2. the same suite under AddressSanitizer + UBSan (debug preset);
#   3. each libFuzzer target for FUZZ_SECONDS (default 10; longer runs: set it) from the seeds in fuzz/seeds, with
#      FUZZ_SEED (default 1, so CI is reproducible).
# Prints "N passed, N failed" at the end and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
failed=0

bash scripts/build.sh release
ctest --test-dir build/release --output-on-failure -j "$jobs" || failed=$((failed + 1))

bash scripts/build.sh debug
ctest --test-dir build/debug --output-on-failure -j "$jobs" -LE cuda || failed=$((failed + 1))

bash scripts/build.sh fuzz
for target in gguf safetensors hf_config tokenizer_json chat_template openai_request weights_file lora_gguf; do
  corpus=$(mktemp -d)
  echo "fuzz_$target: ${FUZZ_SECONDS:-10} s"
  # A fixed seed keeps CI reproducible; set FUZZ_SEED (0: random) for exploratory runs.
  if build/fuzz/bin/fuzz_$target -seed="${FUZZ_SEED:-1}" -max_total_time="${FUZZ_SECONDS:-10}" -max_len=4096 -print_final_stats=0 \
      "$corpus" "fuzz/seeds/$target" > "$corpus.log" 2>&1; then
    grep -E "^Done" "$corpus.log" || true
  else
    tail -40 "$corpus.log"; failed=$((failed + 1))
  fi
  rm -rf "$corpus" "$corpus.log"
done

# Stages: ctest, ctest under sanitizers, eight fuzzers.
echo "test.sh stages: $((10 - failed)) passed, $failed failed"
((failed == 0))
