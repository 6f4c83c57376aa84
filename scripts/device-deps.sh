#!/usr/bin/env bash
# Downloads the Debian packages forge builds against into device-data/debs (git-ignored), for
# the GPU machine, which reaches no package registry, and copies ../shared test data beside them.
# scripts/device-test.sh unpacks them there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p device-data/debs
cd device-data/debs
apt-get download libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev \
  libpcre2-dev libpcre2-8-0 libicu-dev libicu72 \
  libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libssl3 zlib1g-dev libbrotli-dev libbrotli1 \
  libonnx-dev libonnx1 libonnxifi libprotobuf-dev libprotobuf32 libprotobuf-lite32 2>&1 | grep -v "^Get:" || true
ls
cd ..
# ../shared does not travel to the GPU machine: copy the test data it needs.
rm -rf shared && mkdir -p shared
cp -r ../../shared/models ../../shared/quant-tests ../../shared/tokenizer-tests shared/
