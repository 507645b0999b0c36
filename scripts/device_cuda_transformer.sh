#!/usr/bin/env bash
# device_cuda_transformer.sh — on the `device` machine, in ONE call: the transformer models (vit_b_16, bert_tiny_enc)
# on the CUDA backend with the device-side transformer fusions (ferry.FusedMatMul/LayerNorm/SdpAttention, see
# src/backends/cuda/cuda_transformer.cc) against the decomposed path (FERRY_DEVICE_FUSE_TRANSFORMER=0): CUDA unit
# tests, the zoo check (fp32/fp16 vs ferry's CPU) and interleaved FP16 benchmarks; logs under $OUT.
#
#   scripts/device_bundle.sh build-CUDA2 .device-cuda2 && cp build/zoo/bert_tiny_enc.onnx .device-cuda2/
#   run(carry=[".device-cuda2"], command="scripts/device_cuda_transformer.sh .device-cuda2", timeout_s=240)
#
# vit_b_16 is exported there (opset 13, TorchScript exporter, MultiheadAttention's explicit path; see below). Its output is all zeros (zero-init head), so the
# zoo check also runs vit_b_16_probe: the same graph with the head's input (the class token after the last
# LayerNorm) as the output. BUDGET (s, default 215) bounds the whole script.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=${1:-.device-cuda2}
O=${OUT:-/tmp/out}
BUDGET=${BUDGET:-215}
mkdir -p "$O"
left() { echo $((BUDGET - SECONDS)); }
scripts/device_unpack.sh "$CARRY/bundle.tar.xz" /tmp/fd >"$O/unpack.log" 2>&1 || { cat "$O/unpack.log"; exit 1; }
# shellcheck disable=SC1091
. /tmp/fd/env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv | tee "$O/gpu.txt"
ZOO=/tmp/zoo
mkdir -p "$ZOO"
cp "$CARRY"/*.onnx "$ZOO"/ 2>/dev/null
(cd /tmp/fd/share && timeout 150 python3 "$OLDPWD/scripts/device_export_vit.py" "$ZOO") >"$O/export.log" 2>&1 &
EXPORT_PID=$!

echo "== unit tests at ${SECONDS}s"
timeout 60 ferry_tests --gtest_filter='CudaBackend.TransformerOpsMatchCpu:CudaBackend.PatchifyConvMatchesCpu:CudaBackend.MatchesCpuInFp32AndFp16WithFallback:DeviceOptions*' \
  >"$O/tests.log" 2>&1
echo "ferry_tests rc $?"; grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which is" "$O/tests.log" | head -20
if [ -x /tmp/fd/bin/ferry_cuda_kernels_test ]; then
  timeout 40 ferry_cuda_kernels_test >"$O/kernels_test.log" 2>&1
  echo "ferry_cuda_kernels_test rc $?"; grep -i "fail" "$O/kernels_test.log" | head -12; tail -2 "$O/kernels_test.log"
fi

echo "== bert zoo check at ${SECONDS}s"
timeout 40 python3 tests/cuda/device_zoo_check.py /tmp/fd/bin/ferry "$ZOO" --models bert_tiny_enc --out "$O/zb" \
  >"$O/zoo_bert.log" 2>&1
echo "rc $?"; grep -E "^\|" "$O/zoo_bert.log" | head -4

# One bench: prints "cfg model batch gpu_median_ms min" (or ERROR + the last line).
bench() {
  local cfg=$1 model=$2 b=$3 envs=()
  [ "$cfg" = decomp ] && envs=(FERRY_DEVICE_FUSE_TRANSFORMER=0)
  [ "$cfg" = fused ] && envs=(FERRY_DEVICE_FUSE_TRANSFORMER=1)
  [ "$cfg" = gelu ] && envs=(FERRY_CUDA_GELU_EPILOGUE=1)
  [ "$cfg" = patch ] && envs=(FERRY_CUDA_PATCHIFY=1)
  local it=200
  [ "$b" -gt 8 ] && it=40
  local log="$O/bench_${cfg}_${model}_b${b}.log"
  env "${envs[@]}" timeout 60 ferry bench "$ZOO/$model.onnx" --device cuda --precision fp16 --batch "$b" --warmup 10 \
    --iterations $it --json --cuda-graph --no-data-transfers >>"$log" 2>&1
  local rc=$?
  python3 - "$log" "$cfg" "$model" "$b" "$rc" <<'PY'
import json, sys
log, cfg, model, b, rc = sys.argv[1:]
lines = open(log).read().strip().splitlines()
try:
    j = json.loads(lines[-1])
    g = j.get("gpu_compute", {}).get("median_ms", 0)
    gmin = j.get("gpu_compute", {}).get("min_ms", 0)
    print(f"{cfg:6s} {model:13s} b{b:<4s} gpu_median_ms {g:8.3f} min {gmin:8.3f}  first_run_ms {j.get('first_run_ms', 0):6.0f}"
          f"  [{j.get('device_summary', '')[:110]}]" + (" FUSIONS OFF" if "fusions off" in j.get("device_summary", "") else ""))
    if "fusions off" in j.get("device_summary", ""):
        print("   " + j["device_summary"].split("fusions off")[1][:300])
except Exception:
    print(f"{cfg:6s} {model:13s} b{b:<4s} ERROR rc {rc}: {lines[-1][:200] if lines else ''}")
PY
}
echo "== bert benchmarks at ${SECONDS}s" | tee -a "$O/bench.txt"
for round in 1 2; do
  for b in 1 64; do
    for cfg in decomp fused; do bench $cfg bert_tiny_enc $b | tee -a "$O/bench.txt"; done
  done
done

echo "== waiting for the vit export at ${SECONDS}s"
wait $EXPORT_PID
echo "export rc $? at ${SECONDS}s"; tail -2 "$O/export.log"
if [ -f "$ZOO/vit_b_16.onnx" ]; then
  echo "== vit benchmarks at ${SECONDS}s" | tee -a "$O/bench.txt"
  for round in 1 2; do
    for b in 1 64; do
      for cfg in decomp fused; do
        [ "$(left)" -gt 70 ] || { echo "skip $cfg vit b$b (budget)"; continue; }
        bench $cfg vit_b_16 $b | tee -a "$O/bench.txt"
      done
    done
  done
  echo "== vit zoo check (probe) at ${SECONDS}s"
  if [ "$(left)" -gt 25 ]; then
    timeout $(($(left) - 12)) python3 tests/cuda/device_zoo_check.py /tmp/fd/bin/ferry "$ZOO" --models vit_b_16_probe \
      --out "$O/zv" >"$O/zoo_vit.log" 2>&1
    echo "rc $?"; grep -E "^\||^\(" "$O/zoo_vit.log" | head -4
  fi
fi
if [ "$(left)" -gt 12 ]; then
  FERRY_CUDA_PROFILE=1 timeout 10 ferry bench "$ZOO/bert_tiny_enc.onnx" --device cuda --precision fp16 --batch 64 \
    --warmup 3 --iterations 10 --no-data-transfers >"$O/profile_bert_b64.log" 2>&1
  grep "cuda profile" "$O/profile_bert_b64.log" | head -10
fi
echo "== extra at ${SECONDS}s"
if [ -f "$ZOO/vit_b_16.onnx" ] && [ "$(left)" -gt 30 ]; then
  for b in 1 64; do for cfg in gelu patch; do bench $cfg vit_b_16 $b | tee -a "$O/bench.txt"; done; done
fi
if [ "$(left)" -gt 25 ]; then
  FERRY_DEVICE_FUSE_TRANSFORMER=0 timeout 20 python3 tests/cuda/device_zoo_check.py /tmp/fd/bin/ferry "$ZOO" \
    --models bert_tiny_enc --out "$O/zbd" >"$O/zoo_bert_decomp.log" 2>&1
  echo "decomposed rc $?"; grep -E "^\| bert" "$O/zoo_bert_decomp.log" | head -2
fi
if [ -f "$ZOO/vit_b_16.onnx" ] && [ "$(left)" -gt 15 ]; then
  FERRY_CUDA_PROFILE=1 timeout 12 ferry bench "$ZOO/vit_b_16.onnx" --device cuda --precision fp16 --batch 64 \
    --warmup 2 --iterations 5 --no-data-transfers >"$O/profile_vit_b64.log" 2>&1
  grep "cuda profile" "$O/profile_vit_b64.log" | head -12
fi
echo "== bench summary"
cat "$O/bench.txt"
(cd "$O" && files=$(ls | grep -v -x -e logs.tar.gz -e bench.txt -e gpu.txt)
 # shellcheck disable=SC2086
 tar czf logs.tar.gz $files; rm -rf $files)
echo "done at ${SECONDS}s"
