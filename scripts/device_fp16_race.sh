#!/usr/bin/env bash
# device_fp16_race.sh — on the `device` machine: the A/B behind docs/gpu.md's "FP16 race" (cuDNN graph-API convs
# with a fused residual were wrong on the first images at batch 16-32 in most runs until ordering points went in).
# Each configuration runs resnet50 several times (each run repeating the inference in-process, `--repeat`) at
# batch 32 (and 16) against one CPU reference (tests/cuda/device_repeat_check.py); BENCH times configurations.
#
#   scripts/device_bundle.sh build .device
#   run(carry=[".device"], command="scripts/device_fp16_race.sh", timeout_s=400)
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/device_unpack.sh .device/bundle.tar.xz /tmp/fd >/tmp/unpack.log 2>&1 || { cat /tmp/unpack.log; exit 1; }
# shellcheck disable=SC1091
. /tmp/fd/env.sh
ZOO=/tmp/zoo
mkdir -p "$ZOO"
(cd /tmp/fd/share && timeout 200 python3 -c "
import functools, runpy, sys, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.argv = ['export_zoo.py', '$ZOO', 'resnet50']
runpy.run_path('export_zoo.py', run_name='__main__')" >/tmp/export.log 2>&1)
R=$ZOO/resnet50.onnx
ls /tmp/fd/lib 2>/dev/null | grep -i cudnn | head -3
python3 -c "import torch; print('cuDNN', torch.backends.cudnn.version())" 2>/dev/null
REPS=${REPS:-3}
FLAGS="--precision fp16 --repeat ${INNER:-3}"
specs=()
[ "${B16:-1}" = 1 ] && specs+=("$R|input:16x3x224x224|$REPS||$FLAGS")
# FERRY_CUDA_FENCE=none|graph|all: no ordering points / one before every graph-API conv / before every op (the
# default: before graph-API convs with a residual operand); FERRY_CUDA_SYNC_OPS=1: a host wait after every op.
for cfg in ${CONFIGS:-"" FERRY_CUDA_FENCE=none FERRY_CUDA_SYNC_OPS=1}; do
  specs+=("$R|input:32x3x224x224|$REPS|$cfg|$FLAGS")
done
# EXTRA="BATCH|ENV|FLAGS;..." — more resnet50 cases (e.g. "256||--precision fp16 --cuda-graph").
IFS=';' read -ra extra <<<"${EXTRA:-}"
for e in "${extra[@]}"; do
  IFS='|' read -r b env fl <<<"$e"
  specs+=("$R|input:${b}x3x224x224|$REPS|$env|${fl:-$FLAGS}")
done
for cfg in ${GRAPH_CONFIGS:-}; do  # the same with --cuda-graph ("-" = no extra environment)
  [ "$cfg" = - ] && cfg=
  specs+=("$R|input:32x3x224x224|$REPS|$cfg|$FLAGS --cuda-graph")
done
time timeout "${LIMIT:-400}" python3 tests/cuda/device_repeat_check.py /tmp/fd/bin/ferry "${specs[@]}"
# BENCH="ENV=V,ENV2=V2 ..." ("-" = none): resnet50 FP16 speed under each environment, BENCH_BATCHES (1 256),
# CUDA graph, ROUNDS interleaved rounds.
for round in $(seq "${ROUNDS:-1}"); do
for cfg in ${BENCH:-}; do
  [ "$cfg" = - ] && cfg=
  cfg=${cfg//,/ }
  for b in ${BENCH_BATCHES:-1 256}; do
    it=200; [ "$b" = 256 ] && it=30
    out=$(env $cfg /tmp/fd/bin/ferry bench "$R" --device cuda --precision fp16 --batch $b --warmup 10 --iterations $it \
          --json --no-data-transfers --cuda-graph 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print(round(d['median_ms'], 4))" 2>&1)
    echo "bench round $round b$b ${cfg:-default}: median $out ms"
  done
done
done
