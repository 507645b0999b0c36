#!/usr/bin/env bash
# device_common.sh — sourced (from the repository root) by the scripts/device_*.sh that run on the `device`
# machine: unpack the carried bundle and enter its environment, run the CUDA unit tests, export zoo models there.
#
#   . scripts/device_common.sh
#   device_setup                                  # /tmp/fd: binaries, libraries, export_zoo.py; prints versions
#   device_unit_tests 'Cuda*:GpuServe*'           # gtest filter; prints the summary lines (and the kernel checks)
#   device_export_zoo /tmp/zoo resnet50 vit_b_16_probe ...   # carried .device/*.onnx first, then export the rest

device_setup() {
  scripts/device_unpack.sh .device/bundle.tar.xz /tmp/fd >/tmp/unpack.log 2>&1 || { cat /tmp/unpack.log; exit 1; }
  # shellcheck disable=SC1091
  . /tmp/fd/env.sh
  head -1 /tmp/fd/MANIFEST
  nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" 2>/dev/null
}

device_unit_tests() {
  echo "== CUDA unit tests"
  timeout 200 /tmp/fd/bin/ferry_tests --gtest_filter="$1" 2>&1 | grep -E "^\[  (PASSED|FAILED) |^\[==========\]|FAILED" |
    tail -8
  local kt=/tmp/fd/bin/ferry_cuda_kernels_test
  [ -x "$kt" ] && timeout 120 "$kt" 2>&1 | tail -2
  return 0
}

# device_export_zoo DIR MODEL...: zoo models with export_zoo.py (torch.onnx.export with dynamo=False, as the
# device's torch needs); any vit_b_16* name exports vit_b_16 and vit_b_16_probe (scripts/device_export_vit.py).
device_export_zoo() {
  local zoo=$1 root=$PWD need="" vit=0 m
  shift
  mkdir -p "$zoo"
  cp .device/*.onnx "$zoo"/ 2>/dev/null
  for m in "$@"; do
    if [ "${m#vit_b_16}" != "$m" ]; then vit=1
    elif [ ! -f "$zoo/$m.onnx" ]; then case " $need " in *" $m "*) ;; *) need="$need $m" ;; esac
    fi
  done
  # shellcheck disable=SC2086
  [ -n "$need" ] && (cd /tmp/fd/share && timeout 240 python3 -c "
import functools, runpy, sys, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.argv = ['export_zoo.py'] + sys.argv[1:]
runpy.run_path('export_zoo.py', run_name='__main__')" "$zoo" $need) >>/tmp/export.log 2>&1
  [ $vit = 1 ] && [ ! -f "$zoo/vit_b_16_probe.onnx" ] &&
    (cd /tmp/fd/share && timeout 200 python3 "$root/scripts/device_export_vit.py" "$zoo") >>/tmp/export.log 2>&1
  echo "== exported at ${SECONDS}s: $(cd "$zoo" && ls ./*.onnx | tr '\n' ' ')"
}
