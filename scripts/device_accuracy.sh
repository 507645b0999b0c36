#!/usr/bin/env bash
# device_accuracy.sh — on the `device` machine, in ONE call: the CUDA unit tests, then every zoo model on
# `--device cuda` (fp32, fp16, fp16 + CUDA graph) against ferry's CPU at each batch of BATCHES, every cuda run
# repeated in-process (`ferry run --repeat`) so an intermittent result shows (tests/cuda/device_zoo_check.py), then
# the same models under CONTROL_ENV (default FERRY_CUDA_FENCE=none FERRY_CUDA_1X1_GEMM=0: the cuDNN residual convs
# without the ordering points of docs/gpu.md "FP16 race") through tests/cuda/device_repeat_check.py.
#
#   scripts/device_bundle.sh build .device        (.device also carries bert_tiny_enc.onnx, exported here)
#   run(carry=[".device"], command="scripts/device_accuracy.sh", timeout_s=600)
#
# Environment: BATCHES (default "32"), MODELS (the seven zoo models and vit_b_16_probe: vit_b_16 with the head's
# input as output, the zoo head being zero), REPEAT (3), CONTROL_MODELS (resnet50 vit_b_16_probe bert_tiny_enc),
# CONTROL_ENV, BUDGET (seconds for the whole script, default 560).
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-560}
BATCHES=${BATCHES:-32}
MODELS=${MODELS:-"resnet50 mobilenet_v2 resnet18 efficientnet_b0 vit_b_16 vit_b_16_probe bert_tiny_enc yolo_like"}
CONTROL_MODELS=${CONTROL_MODELS-"resnet50 vit_b_16_probe bert_tiny_enc"}
CONTROL_ENV=${CONTROL_ENV:-FERRY_CUDA_FENCE=none,FERRY_CUDA_1X1_GEMM=0}  # resnet50's residual convs are 1x1 GEMMs otherwise
left() { echo $((BUDGET - SECONDS)); }
. scripts/device_common.sh
device_setup
device_unit_tests 'Cuda*:ConvLayout*:DeviceOptions*:GpuServe*:AttentionLayout*'
ZOO=/tmp/zoo
# shellcheck disable=SC2086
device_export_zoo "$ZOO" $MODELS

for b in $BATCHES; do
  echo "== zoo check, batch $b, --repeat ${REPEAT:-3} ($(left)s left)"
  timeout "$(left)" python3 tests/cuda/device_zoo_check.py /tmp/fd/bin/ferry "$ZOO" --batch "$b" \
    --repeat "${REPEAT:-3}" --models "$(echo $MODELS | tr ' ' ,)" --out /tmp/zoo_check_b$b | grep -v "^('" 
done

specs=()
for m in $CONTROL_MODELS; do
  [ -f "$ZOO/$m.onnx" ] || continue
  inp=$(python3 -c "import onnx; m=onnx.load('$ZOO/$m.onnx', load_external_data=False); i={x.name for x in m.graph.initializer}; print([x.name for x in m.graph.input if x.name not in i][0])")
  dims=$(python3 -c "import onnx; m=onnx.load('$ZOO/$m.onnx', load_external_data=False); i={x.name for x in m.graph.initializer}; v=[x for x in m.graph.input if x.name not in i][0]; print('x'.join(str(d.dim_value) if d.dim_value>0 else '32' for d in v.type.tensor_type.shape.dim))")
  specs+=("$ZOO/$m.onnx|$inp:$dims|2|$CONTROL_ENV|--precision fp16 --repeat 3")
done
if [ ${#specs[@]} -gt 0 ] && [ "$(left)" -gt 20 ]; then
  echo "== control: $CONTROL_ENV ($(left)s left)"
  timeout "$(left)" python3 tests/cuda/device_repeat_check.py /tmp/fd/bin/ferry "${specs[@]}"
fi
echo "== done at ${SECONDS}s"
