#!/usr/bin/python3
"""INT8 vs FP32 speed (issue 7, acceptance 2): ferry FP32, ferry INT8 and ORT INT8 on the same QDQ model.

For each model the script quantizes build/zoo/MODEL.onnx with ferry (`ferry quantize ... --calib-random 8
--per-channel`, unless the QDQ file exists) and then, per (batch, threads), runs interleaved rounds of
  ferry bench FP32 model   |   ferry bench INT8 (QDQ) model   |   node ort_bench.js INT8 (QDQ) model
rotating the order each round so drifts of the (shared) machine's load hit all three alike. A configuration's
number is the median of its round medians (and the minimum of the round minima). The table goes between
<!-- BEGIN int8-speed --> and <!-- END int8-speed --> in docs/benchmarks.md (other blocks untouched) and to JSON.

Usage:
  /usr/bin/python3 bench/int8_speed.py --ferry build-INT8/ferry [--models resnet50,mobilenet_v2]
      [--batches 1,8] [--threads 1,2] [--rounds 3] [--iters 20] [--out docs/benchmarks.md] [--json-out F]
stdlib only.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

BEGIN = "<!-- BEGIN int8-speed (bench/int8_speed.py) -->"
END = "<!-- END int8-speed -->"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ferry", default="build/ferry")
    p.add_argument("--peers", default="build/peers")
    p.add_argument("--zoo", default="build/zoo")
    p.add_argument("--qdq-dir", default="/tmp", help="where MODEL_int8.onnx is (or is written)")
    p.add_argument("--node", default="node")
    p.add_argument("--models", default="resnet50,mobilenet_v2")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default="", help="markdown file to update (the int8-speed block)")
    p.add_argument("--json-out", default="")
    return p.parse_args(argv)


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + (r.stderr or r.stdout).strip()[-300:])
    return json.loads(r.stdout[r.stdout.index("{"):])


def ferry_cmd(a, model, b, t):
    return [a.ferry, "bench", model, "--batch", str(b), "--threads", str(t), "--warmup", str(a.warmup),
            "--iterations", str(a.iters), "--profile-iterations", "0", "--json"]


def ort_cmd(a, model, b, t):
    return [a.node, os.path.join(a.peers, "ort_bench.js"), model, "--threads", str(t), "--iters", str(a.iters),
            "--warmup", str(a.warmup), "--batch", str(b)]


def quantized(a, m):
    q = os.path.join(a.qdq_dir, m + "_int8.onnx")
    if not os.path.exists(q):
        subprocess.run([a.ferry, "quantize", os.path.join(a.zoo, m + ".onnx"), q, "--calib-random", "8",
                        "--per-channel"], check=True, capture_output=True)
    return q


def measure(a, m, b, t):
    fp32, q = os.path.join(a.zoo, m + ".onnx"), quantized(a, m)
    engines = [("ferry_fp32", lambda: run_json(ferry_cmd(a, fp32, b, t))),
               ("ferry_int8", lambda: run_json(ferry_cmd(a, q, b, t))),
               ("ort_int8", lambda: run_json(ort_cmd(a, q, b, t)))]
    med = {k: [] for k, _ in engines}
    mins = {k: [] for k, _ in engines}
    for r in range(a.rounds):
        order = engines[r % 3:] + engines[:r % 3]
        for k, fn in order:
            d = fn()
            med[k].append(d["median_ms"])
            mins[k].append(d["min_ms"])
    return {k: {"median_ms": statistics.median(med[k]), "min_ms": min(mins[k]), "round_medians": med[k]}
            for k in med}


def table(rows, a):
    lines = [BEGIN, "",
             "INT8 speed (issue 7 acceptance 2), %s UTC, %d interleaved rounds x %d iterations; medians of round "
             "medians (min in parentheses), ms. INT8 = the ferry-quantized QDQ model (`ferry quantize M.onnx "
             "M_int8.onnx --calib-random 8 --per-channel`), run by ferry (ferry.QConv int8 kernels) and by ORT 1.30."
             % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), a.rounds, a.iters), "",
             "Command: `/usr/bin/python3 bench/int8_speed.py %s` (QDQ models from `ferry quantize build/zoo/M.onnx "
             "build/int8/M_int8.onnx --calib-random 8 --per-channel`)." % " ".join(sys.argv[1:]), "",
             "| model | batch | threads | ferry FP32 | ferry INT8 | ORT INT8 | INT8 speed-up vs FP32 | ferry INT8 vs ORT INT8 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, i, o = r["ferry_fp32"], r["ferry_int8"], r["ort_int8"]
        lines.append("| %s | %d | %d | %.1f (%.1f) | %.1f (%.1f) | %.1f (%.1f) | %.2fx | %.2fx |" % (
            r["model"], r["batch"], r["threads"], f["median_ms"], f["min_ms"], i["median_ms"], i["min_ms"],
            o["median_ms"], o["min_ms"], f["median_ms"] / i["median_ms"], o["median_ms"] / i["median_ms"]))
    lines += ["", END]
    return "\n".join(lines)


def update_block(path, block):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w").write(text)


def main(argv):
    a = parse_args(argv)
    rows = []
    for m in a.models.split(","):
        for b in [int(x) for x in a.batches.split(",")]:
            for t in [int(x) for x in a.threads.split(",")]:
                r = measure(a, m, b, t)
                r.update(model=m, batch=b, threads=t)
                rows.append(r)
                print("%s b%d t%d: fp32 %.1f  int8 %.1f  ort-int8 %.1f ms" % (
                    m, b, t, r["ferry_fp32"]["median_ms"], r["ferry_int8"]["median_ms"], r["ort_int8"]["median_ms"]),
                    flush=True)
    block = table(rows, a)
    print(block)
    if a.out:
        update_block(a.out, block)
    if a.json_out:
        json.dump(rows, open(a.json_out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
