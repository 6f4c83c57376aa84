#!/usr/bin/env bash
# Runs one node:test file of tests/js for ctest, reporting "skipped" (exit 77, ctest's skip code)
# when what it needs is absent: the stories260K model, the npm packages, or Chromium for the page.
set -euo pipefail
cd "$(dirname "$0")"
model="${FORGE_SHARED:-$FORGE_SHARED_DEFAULT}/models/stories260K/stories260K.gguf"
if [[ ! -f "$model" ]]; then echo "skipped: $model not found (set FORGE_SHARED)"; exit 77; fi
if [[ ! -d node_modules/openai ]]; then echo "skipped: npm packages missing (run scripts/setup.sh)"; exit 77; fi
if [[ "$1" == *page_test.mjs && ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "skipped: no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"; exit 77
fi
FORGE_MODEL="$model" exec node --test --test-reporter=spec "$1"
