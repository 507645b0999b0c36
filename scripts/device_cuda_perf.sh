#!/usr/bin/env bash
# device_cuda_perf.sh — on the `device` machine, in ONE call: the CUDA conv A/B benchmarks, the CUDA unit tests, the
# zoo check (fp32/fp16 vs ferry's CPU) and a per-op profile, each under its own time limit; logs under $OUT.
#
#   scripts/device_bundle.sh build-CUDA .device-cuda && cp build/zoo/mobilenet_v2.onnx .device-cuda/
#   run(carry=[".device-cuda"], command="scripts/device_cuda_perf.sh .device-cuda")
#
# Conv configurations compared (same binary, interleaved rounds, GPU compute median with --cuda-graph
# --no-data-transfers, FP16):
#   legacy: FERRY_CUDNN_GRAPH=0 FERRY_CUDA_PAD_CHANNELS=0   (cuDNN legacy API, 3-channel stem unpadded)
#   pad:    FERRY_CUDNN_GRAPH=0                             (legacy API, stem input padded to 8 channels)
#   graph:  defaults                                        (padding + cuDNN graph API conv+bias+add+act)
#   dw:     FERRY_CUDA_DW_KERNEL=1                          (graph + the own depthwise kernel; mobilenet_v2 only)
# Zoo models not in CARRY_DIR are exported with the bundled export_zoo.py (TorchScript exporter). BUDGET (s,
# default 540) bounds the whole script: later steps are skipped when it runs out.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=${1:-.device-cuda}
O=${OUT:-/tmp/out}
BUDGET=${BUDGET:-540}
MODELS=${MODELS:-"resnet50 mobilenet_v2"}
BATCHES=${BATCHES:-"1 256"}
mkdir -p "$O"
left() { echo $((BUDGET - SECONDS)); }
scripts/device_unpack.sh "$CARRY/bundle.tar.xz" /tmp/fd >"$O/unpack.log" 2>&1 || { cat "$O/unpack.log"; exit 1; }
# shellcheck disable=SC1091
. /tmp/fd/env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$O/gpu.txt"
ZOO=/tmp/zoo
mkdir -p "$ZOO"
cp "$CARRY"/*.onnx "$ZOO"/ 2>/dev/null
need=""
for m in $MODELS; do [ -f "$ZOO/$m.onnx" ] || need="$need $m"; done
if [ -n "$need" ]; then
  # shellcheck disable=SC2086
  (cd /tmp/fd/share && timeout 200 python3 -c "
import functools, runpy, sys, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.argv = ['export_zoo.py'] + sys.argv[1:]
runpy.run_path('export_zoo.py', run_name='__main__')" "$ZOO" $need) >"$O/export.log" 2>&1
  echo "export of$need: rc $? at ${SECONDS}s"
fi

# One bench: prints "cfg model batch gpu_median_ms load_ms" (or ERROR + the last line).
bench() {
  local cfg=$1 model=$2 b=$3 extra=$4 envs=()
  case $cfg in
    legacy) envs=(FERRY_CUDNN_GRAPH=0 FERRY_CUDA_PAD_CHANNELS=0) ;;
    pad) envs=(FERRY_CUDNN_GRAPH=0) ;;
    graph) envs=(FERRY_CUDNN_GRAPH_VERBOSE=1) ;;
    dw) envs=(FERRY_CUDA_DW_KERNEL=1) ;;
  esac
  local it=200
  [ "$b" -gt 8 ] && it=30
  local log="$O/bench_${cfg}_${model}_b${b}${extra// /}.log"
  env "${envs[@]}" timeout 120 ferry bench "$ZOO/$model.onnx" --device cuda --precision fp16 --batch "$b" --warmup 10 \
    --iterations $it --json $extra >>"$log" 2>&1
  local rc=$?
  python3 - "$log" "$cfg" "$model" "$b" "$extra" "$rc" <<'PY'
import json, sys
log, cfg, model, b, extra, rc = sys.argv[1:]
lines = open(log).read().strip().splitlines()
try:
    j = json.loads(lines[-1])
    g = j.get("gpu_compute", {}).get("median_ms", 0)
    gmin = j.get("gpu_compute", {}).get("min_ms", 0)
    print(f"{cfg:6s} {model:13s} b{b:<4s} gpu_median_ms {g:8.3f} min {gmin:8.3f}  median_ms {j['median_ms']:8.3f}  "
          f"first_run_ms {j.get('first_run_ms', 0):7.0f}  {extra}  [{j.get('device_summary', '')[:90]}]")
except Exception:
    print(f"{cfg:6s} {model:13s} b{b:<4s} ERROR rc {rc}: {lines[-1][:200] if lines else ''}")
PY
}

echo "== conv diagnostics at ${SECONDS}s"
timeout 150 python3 tests/cuda/device_conv_diag.py /tmp/fd/bin/ferry 2>&1 | tee "$O/diag.txt"
echo "== unit tests at ${SECONDS}s"
timeout 100 ferry_tests --gtest_filter='CudaBackend*:ConvLayout*:DeviceOptions*' >"$O/tests.log" 2>&1
echo "ferry_tests rc $?"; grep -E "^\[  (PASSED|FAILED)|Failure|element|Expected|Which is" "$O/tests.log" | head -30

echo "== A/B benchmarks (FP16, --cuda-graph --no-data-transfers) at ${SECONDS}s" | tee -a "$O/bench.txt"
for round in 1 2; do
  for m in $MODELS; do
    for b in $BATCHES; do
      for cfg in legacy pad graph dw; do
        [ "$cfg" = dw ] && [ "$m" != mobilenet_v2 ] && continue  # the own depthwise kernel: no effect elsewhere
        [ "$(left)" -gt 200 ] || { echo "skip $cfg $m b$b (budget)"; continue; }
        bench $cfg "$m" "$b" "--cuda-graph --no-data-transfers" | tee -a "$O/bench.txt"
      done
    done
  done
done
# The graph path end to end (H2D + compute + D2H) and without CUDA graphs (launch cost visible).
for m in $MODELS; do
  for extra in "--cuda-graph" ""; do
    [ "$(left)" -gt 170 ] && bench graph "$m" 1 "$extra" | tee -a "$O/bench.txt"
  done
done

if [ -x /tmp/fd/bin/ferry_cuda_kernels_test ] && [ "$(left)" -gt 100 ]; then
  timeout 60 ferry_cuda_kernels_test >"$O/kernels_test.log" 2>&1
  echo "ferry_cuda_kernels_test rc $?"; grep -E "^\[  (PASSED|FAILED)" "$O/kernels_test.log"
fi

echo "== zoo check at ${SECONDS}s"
if [ "$(left)" -gt 60 ]; then
  timeout $(($(left) - 40)) python3 tests/cuda/device_zoo_check.py /tmp/fd/bin/ferry "$ZOO" \
    --models "$(echo $MODELS | tr ' ' ,)" --out "$O" >"$O/zoo.log" 2>&1
  echo "zoo rc $?"; grep -E "^\|" "$O/zoo.log" | head -8
fi

echo "== profile at ${SECONDS}s"
if [ "$(left)" -gt 25 ]; then
  FERRY_CUDA_PROFILE=1 timeout 20 ferry bench "$ZOO/resnet50.onnx" --device cuda --precision fp16 --batch 1 \
    --warmup 3 --iterations 20 --no-data-transfers >"$O/profile_resnet50_b1.log" 2>&1
  grep "cuda profile" "$O/profile_resnet50_b1.log" | head -14
fi
if [ "$(left)" -gt 25 ]; then
  FERRY_CUDA_PROFILE=1 timeout 20 ferry bench "$ZOO/mobilenet_v2.onnx" --device cuda --precision fp16 --batch 256 \
    --warmup 3 --iterations 10 --no-data-transfers >"$O/profile_mobilenet_v2_b256.log" 2>&1
  grep "cuda profile" "$O/profile_mobilenet_v2_b256.log" | head -14
fi
grep -h "fallback\|retry" "$O"/bench_graph_*.log 2>/dev/null | sed 's/node .*(cuDNN graph)/NODE/' | sort | uniq -c | sort -rn | head -8
echo "== bench summary"
cat "$O/bench.txt"
# At most 8 files come back: everything else travels in one archive (named files: main.log is still growing).
(cd "$O" && files=$(ls | grep -v -x -e logs.tar.gz -e bench.txt -e main.log -e diag.txt -e device_zoo_check.md -e gpu.txt)
 # shellcheck disable=SC2086
 tar czf logs.tar.gz $files; rm -f $files)
echo "done at ${SECONDS}s"
