#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (unit tests, CLI tests, ONNX conformance, zoo vs ONNX Runtime).
#   bash scripts/test.sh              everything
#   bash scripts/test.sh -L unit      any ctest arguments select a subset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
bash scripts/setup_peers.sh
ctest --test-dir build --output-on-failure "$@"
