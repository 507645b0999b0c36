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
scripts/device_unpack.sh .device/bundle.tar.xz /tmp/fd >/tmp/unpack.log 2>&1 || { cat /tmp/unpack.log; exit 1; }
# shellcheck disable=SC1091
. /tmp/fd/env.sh
head -1 /tmp/fd/MANIFEST
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" 2>/dev/null

echo "== CUDA unit tests"
timeout 150 /tmp/fd/bin/ferry_tests --gtest_filter='Cuda*:ConvLayout*:DeviceOptions*:GpuServe*:AttentionLayout*:DeviceProgramCache*:ConcurrentSessions*' \
  2>&1 | grep -E "^\[  (PASSED|FAILED) |^\[==========\]|FAILED" | tail -8

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
  [ -f "$ZOO/vit_b_16_probe.onnx" ] || (cd /tmp/fd/share && timeout 200 python3 "$OLDPWD/scripts/device_export_vit.py" "$ZOO") \
    >>/tmp/export.log 2>&1 ;;
esac
echo "== exported at ${SECONDS}s: $(cd "$ZOO" && ls ./*.onnx | tr '\n' ' ')"

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
