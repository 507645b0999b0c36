#!/usr/bin/env bash
# gpu_vs_torch.sh — ferry vs PyTorch (eager FP16 channels_last, torch.compile reduce-overhead) on the GPU, in ONE
# device run, written as the <!-- BEGIN gpu --> block of docs/benchmarks.md.
#
# Here (build, pack), then one `run` on the device machine, then splice the returned block:
#   scripts/device_bundle.sh build-CUDA                 # ferry + .so files -> .device/bundle.tar.xz
#   run(command="bench/gpu_vs_torch.sh", carry=[".device"], kind="nvidia-h100-x1")
#   bench/gpu_vs_torch.sh --apply <files_at>/gpu_block.md
#
# On the device it: unpacks the bundle (scripts/device_unpack.sh), records GPU/driver/versions, exports the zoo
# models there with the bundled export_zoo.py (the models are too big to carry; only when ferry has --device),
# times PyTorch (bench/gpu_torch_bench.py) and `ferry bench MODEL --device cuda --precision fp16 --batch B --json`,
# and works in WORK (default /tmp/gpu_vs_torch). If $OUT is set (the device tool's return folder, at most 8 files)
# it receives gpu_block.md, benchmarks.md, torch.json, log.txt and ferry_results.tar.gz (ferry JSON + stderr).
# Environment: WORK, CASES (default "resnet50:1,256 mobilenet_v2:1,256 vit_b_16:1,256
# bert_tiny_enc:1,256"), MODES (eager,compile), FERRY_ITERS_SMALL / FERRY_ITERS_LARGE (200 / 30),
# TORCH_TIMEOUT (seconds for the PyTorch part, default 1500; torch.json keeps the cases finished before it).
set -uo pipefail
cd "$(dirname "$0")/.."

splice() {  # splice BLOCK_FILE DOC: replace the gpu block in DOC (or append it)
  /usr/bin/env python3 - "$1" "$2" <<'PY'
import re, sys
block = open(sys.argv[1]).read().strip() + "\n"
doc = open(sys.argv[2]).read()
pat = re.compile(r"<!-- BEGIN gpu.*?<!-- END gpu -->\n?", re.S)
doc = pat.sub(lambda m: block, doc) if pat.search(doc) else doc.rstrip("\n") + "\n\n" + block
open(sys.argv[2], "w").write(doc)
PY
}

if [ "${1:-}" = "--apply" ]; then
  [ -f "${2:-}" ] || { echo "usage: $0 --apply gpu_block.md" >&2; exit 2; }
  splice "$2" docs/benchmarks.md && echo "docs/benchmarks.md: gpu block updated"
  exit 0
fi

RET=${OUT:-}
OUT=${WORK:-/tmp/gpu_vs_torch}
mkdir -p "$OUT"
CASES=${CASES:-"resnet50:1,256 mobilenet_v2:1,256 vit_b_16:1,256 bert_tiny_enc:1,256"}
MODES=${MODES:-eager,compile}
DEST=/tmp/ferry-device
LOG="$OUT/log.txt"
exec > >(tee -a "$LOG") 2>&1
cmds=()
note() { cmds+=("$*"); echo "+ $*"; }

note "scripts/device_unpack.sh .device/bundle.tar.xz $DEST"
have_ferry=0
if scripts/device_unpack.sh .device/bundle.tar.xz "$DEST"; then
  # shellcheck disable=SC1091
  . "$DEST/env.sh"
  have_ferry=1
fi
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
ferry_ver="not bundled"
[ $have_ferry = 1 ] && ferry_ver=$(head -1 "$DEST/MANIFEST" | sed 's/^built: //')

ferry_cuda=0
ferry_note="the bundled ferry has no --device flag yet (CUDA backend not built in)"
if [ $have_ferry = 1 ] && ferry bench --help 2>&1 | grep -q -- "--device"; then
  ferry_cuda=1
  ferry_note=""
fi

if [ $ferry_cuda = 1 ]; then
  ZOO=/tmp/zoo
  mkdir -p "$ZOO"
  names=$(for c in $CASES; do echo -n "${c%%:*} "; done)
  # A model carried in .device/ (exported here with Debian's torch 1.13) is used as is: the device's torch 2.x
  # TorchScript exporter cannot write bert_tiny_enc's attention at opset 13 and its dynamo export is another graph.
  for n in $names; do
    if [ -f ".device/$n.onnx" ]; then
      note "cp .device/$n.onnx $ZOO/   (carried: exported with Debian's torch by export_zoo.py)"
      cp ".device/$n.onnx" "$ZOO/" && names=$(echo " $names " | sed "s/ $n / /")
    fi
  done
  if [[ " $names " == *" vit_b_16 "* ]]; then  # opset 13 with the explicit attention path the fusions know
    note "python3 scripts/device_export_vit.py $ZOO"
    (cd "$DEST/share" && timeout 200 python3 "$OLDPWD/scripts/device_export_vit.py" "$ZOO") || echo "vit export failed"
    [ -f "$ZOO/vit_b_16.onnx" ] && names=${names//vit_b_16/}
  fi
  # torch 2.11 exports through dynamo by default; export_zoo.py was written for the TorchScript exporter.
  note "python3 export_zoo.py $ZOO $names   (torch.onnx.export with dynamo=False)"
  (cd "$DEST/share" && python3 -c "
import functools, runpy, sys, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.argv = ['export_zoo.py'] + sys.argv[1:]
runpy.run_path('export_zoo.py', run_name='__main__')" "$ZOO" $names) || echo "zoo export failed"
  missing=$(for n in $names; do [ -f "$ZOO/$n.onnx" ] || echo -n "$n "; done)
  if [ -n "$missing" ]; then  # the TorchScript exporter is gone or failed: try torch's default (dynamo) exporter
    note "python3 export_zoo.py $ZOO $missing   (default exporter)"
    # shellcheck disable=SC2086
    (cd "$DEST/share" && python3 export_zoo.py "$ZOO" $missing) || echo "zoo export (dynamo) failed"
  fi
fi

note "python3 bench/gpu_torch_bench.py --out torch.json --cases $CASES --modes $MODES"
# shellcheck disable=SC2086
timeout "${TORCH_TIMEOUT:-1500}" python3 bench/gpu_torch_bench.py --out "$OUT/torch.json" --cases $CASES --modes "$MODES"

if [ $ferry_cuda = 1 ]; then
  # Same footing as torch: inputs already on the device, outputs left there, CUDA graphs (reduce-overhead uses
  # them too). FERRY_FLAGS overrides; a case that fails with --cuda-graph is retried without it.
  help=$(ferry bench --help 2>&1)
  auto=""
  for f in --no-data-transfers --cuda-graph; do grep -q -- "$f" <<<"$help" && auto="$auto $f"; done
  FERRY_FLAGS=${FERRY_FLAGS-$auto}
  for c in $CASES; do
    m=${c%%:*}
    IFS=, read -r -a bs <<<"${c#*:}"
    for b in "${bs[@]}"; do
      it=${FERRY_ITERS_SMALL:-200}
      [ "$b" -gt 8 ] && it=${FERRY_ITERS_LARGE:-30}
      [ -f "$ZOO/$m.onnx" ] || { echo "no $ZOO/$m.onnx"; continue; }
      ok=0
      for flags in "$FERRY_FLAGS" "${FERRY_FLAGS//--cuda-graph/}"; do
        note "ferry bench $m.onnx --device cuda --precision fp16 --batch $b --warmup 10 --iterations $it --json$flags"
        # shellcheck disable=SC2086
        if timeout 300 ferry bench "$ZOO/$m.onnx" --device cuda --precision fp16 --batch "$b" --warmup 10 \
          --iterations "$it" --json $flags >"$OUT/ferry_${m}_b$b.json.tmp" 2>"$OUT/ferry_${m}_b$b.err"; then
          mv "$OUT/ferry_${m}_b$b.json.tmp" "$OUT/ferry_${m}_b$b.json"
          ok=1
          break
        fi
        echo "ferry bench $m b$b failed ($flags):"
        tail -5 "$OUT/ferry_${m}_b$b.err"
        [ "$flags" = "${FERRY_FLAGS//--cuda-graph/}" ] && break
      done
      [ $ok = 1 ] || rm -f "$OUT/ferry_${m}_b$b.json.tmp"
    done
  done
fi

python3 - "$OUT/meta.json" "$gpu" "$driver" "$ferry_ver" "$ferry_note" "${cmds[@]}" <<'PY'
import json, sys, datetime
out, gpu, driver, ferry, note, *cmds = sys.argv[1:]
json.dump({"gpu": gpu, "driver": driver, "ferry": ferry, "ferry_note": note or "measured",
           "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "commands": cmds}, open(out, "w"))
PY
python3 bench/gpu_torch_bench.py --table --torch "$OUT/torch.json" --ferry-dir "$OUT" --meta "$OUT/meta.json" \
  >"$OUT/gpu_block.md"
splice "$OUT/gpu_block.md" docs/benchmarks.md
cat "$OUT/gpu_block.md"
if [ -n "$RET" ]; then
  mkdir -p "$RET"
  cp "$OUT/gpu_block.md" "$OUT/torch.json" "$LOG" "$RET/" 2>/dev/null
  cp docs/benchmarks.md "$RET/benchmarks.md"
  (cd "$OUT" && tar -czf "$RET/ferry_results.tar.gz" meta.json $(ls ferry_* 2>/dev/null))
fi
