#!/usr/bin/env bash
# device_fp16_race.sh — on the `device` machine: the A/B for docs/gpu.md's "Known bug" (FP16 cuDNN graph-API convs
# wrong on the first images at batch 16-32 in some runs). Each configuration runs resnet50 several times at batch 16
# and 32 against one CPU reference (tests/cuda/device_repeat_check.py).
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
REPS=${REPS:-3}
specs=()
for cfg in "" FERRY_CUDNN_GRAPH_SHARE_PLANS=0 FERRY_CUDNN_GRAPH_ZERO_WS=1 \
           FERRY_CUDNN_GRAPH_SHARE_PLANS=0,FERRY_CUDNN_GRAPH_ZERO_WS=1 CUDA_LAUNCH_BLOCKING=1; do
  for b in 16 32; do specs+=("$R|input:${b}x3x224x224|$REPS|$cfg"); done
done
timeout "${LIMIT:-330}" python3 tests/cuda/device_repeat_check.py /tmp/fd/bin/ferry "${specs[@]}"
