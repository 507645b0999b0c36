#!/usr/bin/env bash
# Configures and builds ferry (Release) into build/. Idempotent and incremental.
#   bash scripts/build.sh                 the CLI and the unit tests
#   FERRY_TARGETS=ferry bash scripts/...  only the CLI
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
targets=${FERRY_TARGETS:-ferry ferry_tests}
# The CUDA kernel test exists when the CUDA backend is configured (FERRY_CUDA); CTest lists it, so build it too.
if [ -z "${FERRY_TARGETS:-}" ] && ninja -C build -t targets all 2>/dev/null | grep -q '^ferry_cuda_kernels_test:'; then
  targets="$targets ferry_cuda_kernels_test"
fi
# shellcheck disable=SC2086
ninja -C build -j"$(nproc)" $targets
