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
scripts/device_unpack.sh .device/bundle.tar.xz /tmp/fd >/tmp/unpack.log 2>&1 || { cat /tmp/unpack.log; exit 1; }
# shellcheck disable=SC1091
. /tmp/fd/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" 2>/dev/null

echo "== CUDA unit tests"
timeout 120 /tmp/fd/bin/ferry_tests --gtest_filter='Cuda*:ConvLayout*:DeviceOptions*:GpuServe*:AttentionLayout*' \
  2>&1 | grep -E "^\[  (PASSED|FAILED) |^\[==========\]|FAILED" | tail -8
kt=/tmp/fd/bin/ferry_cuda_kernels_test
[ -x "$kt" ] && timeout 120 "$kt" 2>&1 | tail -2

ZOO=/tmp/zoo
mkdir -p "$ZOO"
cp .device/*.onnx "$ZOO"/ 2>/dev/null
need=""
for m in $MODELS; do [ -f "$ZOO/$m.onnx" ] || [ "${m#vit_b_16}" != "$m" ] || need="$need $m"; done
# shellcheck disable=SC2086
[ -n "$need" ] && (cd /tmp/fd/share && timeout 240 python3 -c "
import functools, runpy, sys, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.argv = ['export_zoo.py'] + sys.argv[1:]
runpy.run_path('export_zoo.py', run_name='__main__')" "$ZOO" $need) >/tmp/export.log 2>&1
case " $MODELS " in *" vit_b_16"*)
  [ -f "$ZOO/vit_b_16.onnx" ] || (cd /tmp/fd/share && timeout 200 python3 "$OLDPWD/scripts/device_export_vit.py" "$ZOO") \
    >>/tmp/export.log 2>&1 ;;
esac
echo "== exported at ${SECONDS}s: $(cd "$ZOO" && ls ./*.onnx | tr '\n' ' ')"

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
