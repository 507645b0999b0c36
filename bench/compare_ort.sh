#!/bin/sh
# compare_ort.sh — ferry vs ONNX Runtime on the benchmark zoo, interleaved rounds; writes docs/benchmarks.{md,json}.
#
#   bench/compare_ort.sh                                   # whole zoo, batch 1 at threads 1 and 2, resnet50 batch 8
#   bench/compare_ort.sh --models resnet50,bert_tiny_enc --threads 2 --rounds 5
#   FERRY=build-BENCH/ferry bench/compare_ort.sh --out '' # print the table instead of writing docs/
#
# Options are those of bench/compare_ort.py (--help). FERRY picks the binary (default build/ferry); run from anywhere,
# paths are relative to the repository root.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ferry=${FERRY:-build/ferry}
if [ ! -x "$ferry" ]; then
  echo "compare_ort.sh: no ferry binary at '$ferry' (set FERRY=path/to/ferry)" >&2
  exit 2
fi
if [ ! -f build/peers/ort_bench.js ]; then
  echo "compare_ort.sh: build/peers/ort_bench.js missing (see build/peers/README.md)" >&2
  exit 2
fi
exec /usr/bin/python3 bench/compare_ort.py --ferry "$ferry" --peers build/peers --zoo build/zoo "$@"
