#!/usr/bin/env bash
# Prepares the side-by-side peer (ONNX Runtime via npm onnxruntime-node, from ../shared/peers) in build/peers and
# exports the zoo models the tests compare (mobilenet_v2, bert_tiny_enc) into build/zoo. Idempotent; skips what
# is already there. FERRY_ZOO="resnet50 vit_b_16 ..." exports more.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${FERRY_SHARED_DIR:-../shared}
if [ ! -d "$shared/peers" ]; then echo "[setup_peers] $shared/peers not found: zoo tests will be skipped"; exit 0; fi
if [ ! -d build/peers/node_modules/onnxruntime-node ]; then
  rm -rf build/peers && mkdir -p build && cp -r "$shared/peers" build/peers
  (cd build/peers && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
mkdir -p build/zoo
for m in ${FERRY_ZOO:-mobilenet_v2 bert_tiny_enc}; do
  if [ ! -f "build/zoo/$m.onnx" ]; then
    echo "[setup_peers] exporting $m"
    /usr/bin/python3 "$shared/peers/export_zoo.py" build/zoo "$m" >/dev/null 2>&1 || echo "[setup_peers] export of $m failed"
  fi
done
