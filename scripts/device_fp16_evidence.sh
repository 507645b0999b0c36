#!/usr/bin/env bash
# device_fp16_evidence.sh — on the `device` machine, in ONE call: the CUDA unit tests, then PyTorch's own FP16 on
# the zoo's weights scored by issue 6's elementwise rule beside ferry's FP16 (tests/cuda/device_torch_fp16_accuracy.py),
# then the rescaled efficientnet_b0 (scripts/rescale_zoo_model.py) on FP16 + CUDA graph, repeated in-process
# (docs/gpu.md "Known gaps" 0: the legacy conv path's math type).
#
#   scripts/device_bundle.sh build .device
#   run(carry=[".device"], command="scripts/device_fp16_evidence.sh", timeout_s=600)
#
# Environment: MODELS (torch comparison; default in the script), BATCH (32), BUDGET (seconds, default 560).
# Leaves the exported zoo in /tmp/zoo, which scripts/device_accuracy.sh reuses on a warm machine.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-560}
BATCH=${BATCH:-32}
MODELS=${MODELS:-"resnet50 resnet18 vit_b_16_probe bert_tiny_enc yolo_like mobilenet_v2 efficientnet_b0"}
left() { echo $((BUDGET - SECONDS)); }
. scripts/device_common.sh
device_setup
device_unit_tests 'Cuda*:ConvLayout*:DeviceOptions*:GpuServe*:AttentionLayout*:DeviceProgramCache*:ConcurrentSessions*'
ZOO=/tmp/zoo
# shellcheck disable=SC2086
device_export_zoo "$ZOO" $MODELS

echo "== PyTorch FP16 vs ferry FP16 on the same weights, batch $BATCH ($(left)s left)"
timeout "$(left)" python3 tests/cuda/device_torch_fp16_accuracy.py /tmp/fd/bin/ferry "$ZOO" /tmp/fd/share/export_zoo.py \
  --batch "$BATCH" --models "$(echo $MODELS | tr ' ' ,)" --out "${OUT:-/tmp}/torch_fp16_accuracy.md" 2>&1 | grep -v "^('"

if [ -f "$ZOO/efficientnet_b0.onnx" ] && [ "$(left)" -gt 60 ]; then
  echo "== rescaled efficientnet_b0, FP16 + CUDA graph, repeated ($(left)s left)"
  [ -f "$ZOO/efficientnet_b0_rescaled.onnx" ] || timeout "$(left)" python3 scripts/rescale_zoo_model.py /tmp/fd/bin/ferry \
    "$ZOO/efficientnet_b0.onnx" "$ZOO/efficientnet_b0_rescaled.onnx" >/tmp/rescale.log 2>&1 || tail -3 /tmp/rescale.log
  timeout "$(left)" python3 tests/cuda/device_repeat_check.py /tmp/fd/bin/ferry \
    "$ZOO/efficientnet_b0_rescaled.onnx|input:32x3x224x224|4||--precision fp16 --cuda-graph --repeat 2" \
    "$ZOO/efficientnet_b0_rescaled.onnx|input:32x3x224x224|2||--precision fp16 --repeat 2"
fi
echo "== done at ${SECONDS}s"
