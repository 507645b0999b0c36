#!/usr/bin/env bash
# Fuzzes the model loader with libFuzzer (clang, ASan+UBSan) for N seconds (default 300), seeded with the
# fixture models and a sample of ONNX conformance models. Crashes are written to build-fuzz/crashes/.
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shared=${FERRY_SHARED_DIR:-../shared}
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_FUZZ=ON \
  -DFERRY_TESTS=OFF "${launcher[@]}" >/dev/null
ninja -C build-fuzz -j"$(nproc)" fuzz_model_loader
corpus=build-fuzz/corpus; mkdir -p "$corpus" build-fuzz/crashes
cp tests/fixtures/*.onnx tests/fixtures/*.pb "$corpus"/ 2>/dev/null || true
if [ -d "$shared/conformance/onnx-node" ]; then
  for d in $(ls "$shared/conformance/onnx-node" | awk 'NR % 15 == 0'); do
    cp "$shared/conformance/onnx-node/$d/model.onnx" "$corpus/$d.onnx" 2>/dev/null || true
  done
fi
build-fuzz/fuzz_model_loader "$corpus" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 \
  -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1
