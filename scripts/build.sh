#!/usr/bin/env bash
# Configures and builds ferry (Release) into build/. Idempotent and incremental.
#   bash scripts/build.sh                 the CLI and the unit tests
#   FERRY_TARGETS=ferry bash scripts/...  only the CLI
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
# shellcheck disable=SC2086
ninja -C build -j"$(nproc)" ${FERRY_TARGETS:-ferry ferry_tests}
