#!/usr/bin/env bash
# The main job: install dependencies, build, and describe the default model (stories260K).
# Once the engine lands this generates text with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
model=$(bash scripts/default-model.sh)
build/release/bin/forge info "$model"
