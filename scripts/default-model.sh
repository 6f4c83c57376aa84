#!/usr/bin/env bash
# Prints the path of the default model (stories260K): $FORGE_MODEL if set, else ../shared/models
# next to the checkout when present, else a copy downloaded once into models/ from its public
# Hugging Face location and checked against its sha256.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${FORGE_MODEL:-}" ]]; then echo "$FORGE_MODEL"; exit 0; fi
shared="$root/../shared/models/stories260K/stories260K.gguf"
if [[ -f "$shared" ]]; then echo "$shared"; exit 0; fi
dest="$root/models/stories260K.gguf"
sha=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d
if [[ ! -f "$dest" ]]; then
  mkdir -p "$root/models"
  echo "downloading stories260K.gguf (1.2 MB)..." >&2
  curl -fL --retry 3 -o "$dest.part" https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
  echo "$sha  $dest.part" | sha256sum -c --quiet - >&2
  mv "$dest.part" "$dest"
fi
echo "$dest"
