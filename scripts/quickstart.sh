#!/usr/bin/env bash
# The main job: install dependencies, build, describe the default model (stories260K) and
# generate text with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
model=$(bash scripts/default-model.sh)
build/release/bin/forge info "$model"
echo
build/release/bin/forge run -m "$model" -p "Once upon a time" -n 64 --temp 0
