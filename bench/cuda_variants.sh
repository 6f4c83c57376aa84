#!/usr/bin/env bash
# On the GPU machine (device tool, carrying device-data): builds, checks on the GPU, and times
# the CUDA variants that environment switches select, each against the default in one lease.
#   bash bench/cuda_variants.sh check     build; the cuda-labelled tests (every kernel variant
#                                         against its CPU reference)
#   bash bench/cuda_variants.sh matmul    bench_matmul: the tensor-core matmul's 128- and 256-row
#                                         tiles, each beside cuBLAS on the F16 copies
#   bash bench/cuda_variants.sh batched   forge batched-bench 8B Q4_0: the default (matmul_mma or
#                                         cuBLAS by mma_beats_f16_gemm), then matmul_mma wherever
#                                         it can run (FORGE_CUDA_MMA=1)
#   AB_PATCH=F bash bench/cuda_variants.sh ab
#                                         a change against what it replaces in one lease: the
#                                         tree as it is, with patch F reversed, then as it is
#                                         again (bench_matmul 8B shapes, forge bench tg128 and
#                                         pp512, batched-bench at 64 sequences; 8B Q4_0); F from
#                                         e.g. git diff main HEAD -- src > ab.patch (untracked,
#                                         so it travels), after `check` has built the tree
# Several stages in one call: bash bench/cuda_variants.sh check matmul
set -uo pipefail
cd "$(dirname "$0")/.."
prefix=/opt/forge-deps
export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu FORGE_SHARED=$PWD/device-data/shared
b=build/cuda/bin
model() {  # model SHAPE TYPE: the random-weight GGUF, made once
  mkdir -p models
  [ -f "models/$1-$2.gguf" ] || $b/make_random_model "$1" "$2" "models/$1-$2.gguf" 2>/dev/null
  echo "models/$1-$2.gguf"
}
for stage in "$@"; do
  case $stage in
    check)
      if [ ! -f build/cuda/build.ninja ]; then
        mkdir -p $prefix
        for f in device-data/debs/*.deb; do dpkg -x "$f" $prefix; done
        cmake --preset cuda -DCMAKE_PREFIX_PATH=$prefix/usr -DICU_ROOT=$prefix/usr >/dev/null
      fi
      cmake --build build/cuda -j"$(nproc)" >build/variants_build.log 2>&1 || { tail -30 build/variants_build.log; exit 1; }
      ctest --test-dir build/cuda -L cuda -j4 --output-on-failure 2>&1 | grep -E "tests passed|Failed|Failure|rel_l2" | head -20
      ;;
    matmul)
      for type in Q4_0 Q8_0; do
        for tile in 128 256; do
          echo "== $type, tile $tile (shape | T | kernel | us | GB/s | TFLOPS | cuBLAS F16 us | GB/s)"
          TILE=$tile $b/bench_matmul $type 16 32 64 | grep '^| [18]B'
        done
      done
      ;;
    batched)
      f=$(model llama-3-8b Q4_0)
      for cfg in "FORGE_CUDA_MMA=0" "FORGE_CUDA_MMA=1"; do
        echo "== batched-bench 8B Q4_0, $cfg"
        env $cfg $b/forge batched-bench -m "$f" --npp 128 --ntg 128 --npl 8,32,64 --device cuda 2>&1 | grep '^| *[0-9]'
      done
      ;;
    ab)
      f=$(model llama-3-8b Q4_0)
      run_ab() {
        echo "== $1"
        SHAPE=8B $b/bench_matmul Q4_0 16 32 64 | grep '^| 8B'
        $b/forge bench -m "$f" -p 512 -n 128 -r 3 --device cuda 2>/dev/null | grep -E "pp512|tg128" | cut -d'|' -f6-8
        $b/forge batched-bench -m "$f" --npp 128 --ntg 128 --npl 64 --device cuda 2>&1 | grep '^| *[0-9]'
      }
      rebuild() { ninja -C build/cuda -j"$(nproc)" bin/forge bin/bench_matmul >/dev/null 2>&1 || { echo "build failed"; exit 1; }; }
      run_ab "as it is"
      patch -R -p1 < "$AB_PATCH" >/dev/null && rebuild && run_ab "with $AB_PATCH reversed"
      patch -p1 < "$AB_PATCH" >/dev/null && rebuild && run_ab "as it is, again"
      ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
