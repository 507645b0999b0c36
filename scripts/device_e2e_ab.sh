#!/usr/bin/env bash
# device_e2e_ab.sh — on the `device` machine: end-to-end `ferry bench` (with H2D/D2H, CUDA graph) under several
# environments, interleaved rounds, for A/B tests of the transfer path (e.g. FERRY_CUDA_STAGE_F32=1: the FP32
# staging before FP16 inputs were converted on the host). Before timing, the CUDA unit tests, and each variant's
# `ferry run` output on the first case is compared byte for byte with the default's.
#
#   scripts/device_bundle.sh build .device
#   run(carry=[".device"], command="scripts/device_e2e_ab.sh", timeout_s=600)
#
# Environment: CASES ("model:batch ..."; default "resnet50:256 resnet50:64 resnet50:1 mobilenet_v2:256
# bert_tiny_enc:256"), VARIANTS ("-" = default; commas separate several VAR=V; default "- FERRY_CUDA_STAGE_F32=1"),
# STREAMS (extra `--streams N` runs of the default variant, default "2"), INFLIGHT (extra `--inflight N` runs: N
# requests in flight on one session, default "2"), ROUNDS (2), PRECISION (fp16).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/device_common.sh
device_setup
CASES=${CASES:-"resnet50:256 resnet50:64 resnet50:1 mobilenet_v2:256 bert_tiny_enc:256"}
VARIANTS=${VARIANTS:-"- FERRY_CUDA_STAGE_F32=1"}
PRECISION=${PRECISION:-fp16}
device_unit_tests 'Cuda*:DeviceOptions*:GpuServe*:DeviceProgramCache*:ConcurrentSessions*'
ZOO=/tmp/zoo
# shellcheck disable=SC2046
device_export_zoo "$ZOO" $(for c in $CASES; do echo "${c%%:*}"; done)

first=${CASES%% *}
m=${first%%:*}; b=${first##*:}
echo "== byte comparison of outputs, $m b$b"
for v in $VARIANTS; do
  env_=${v//,/ }; [ "$v" = - ] && env_=
  # shellcheck disable=SC2086
  env $env_ /tmp/fd/bin/ferry run "$ZOO/$m.onnx" --shape "input:${b}x$(python3 -c "import onnx; m=onnx.load('$ZOO/$m.onnx', load_external_data=False); print('x'.join(str(d.dim_value) for d in m.graph.input[0].type.tensor_type.shape.dim[1:]))")" \
    --device cuda --precision "$PRECISION" --cuda-graph -o "/tmp/ab_out_${v//[^A-Za-z0-9]/_}" --quiet || echo "run failed: $v"
done
ref="/tmp/ab_out__"
for d in /tmp/ab_out_*; do
  [ "$d" = "$ref" ] && continue
  if diff -rq "$ref" "$d" >/dev/null; then echo "identical: $d"; else echo "DIFFERENT: $d"; fi
done

bench() {  # bench ENV MODEL BATCH EXTRA
  local it=200
  [ "$3" -ge 64 ] && it=40
  # shellcheck disable=SC2086
  env $1 /tmp/fd/bin/ferry bench "$ZOO/$2.onnx" --device cuda --precision "$PRECISION" --batch "$3" --warmup 10 \
    --iterations $it --json --cuda-graph $4 2>/dev/null | python3 -c "
import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
g = lambda k: d.get(k, {}).get('median_ms', 0)
print(f\"median {d['median_ms']:.3f} ms  {d['throughput_qps']:.0f} items/s  h2d {g('h2d'):.3f}  compute {g('gpu_compute'):.3f}  d2h {g('d2h'):.3f}\")" 2>&1 | tail -1
}
for round in $(seq "${ROUNDS:-2}"); do
  for c in $CASES; do
    m=${c%%:*}; b=${c##*:}
    for v in $VARIANTS; do
      env_=${v//,/ }; [ "$v" = - ] && env_=
      echo "round $round $m b$b ${v/-/default}: $(bench "$env_" "$m" "$b" "")"
    done
    for s in ${STREAMS-2}; do
      echo "round $round $m b$b default --streams $s: $(bench "" "$m" "$b" "--streams $s")"
    done
    for s in ${INFLIGHT-2}; do
      echo "round $round $m b$b default --inflight $s: $(bench "" "$m" "$b" "--inflight $s")"
    done
  done
done
echo "== done at ${SECONDS}s"
