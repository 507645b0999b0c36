#!/usr/bin/env python3
"""On the GPU machine: every zoo model on `--device cuda` against ferry's CPU backend, then the CUDA benchmarks.

usage: device_zoo_check.py FERRY ZOO_DIR [--models a,b] [--batch 2] [--repeat 3] [--bench resnet50:1,256 ...] [--out DIR]

Per model: seeded random inputs (batch --batch), `ferry run` on cpu (the reference), cuda fp32, cuda fp16 and
cuda fp16 --cuda-graph; each output must satisfy |cuda - cpu| <= atol + rtol |cpu| (fp32: 1e-4/1e-4; fp16:
1e-2/1e-3 as in issue 6; the share of values outside it and the relative L2 error are reported beside it) with
no NaN/Inf. Every cuda run repeats the inference --repeat times in one process (`ferry run --repeat`) and fails
as "RUNS DIFFER" unless all repeats are bit-identical (the FP16 race of docs/gpu.md was intermittent). Then
`ferry bench --device cuda --precision fp16 [--cuda-graph]` for each --bench case. Prints one table at the end.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
import onnx
from onnx import numpy_helper


def load_pb(path):
    t = onnx.TensorProto()
    t.ParseFromString(open(path, "rb").read())
    return numpy_helper.to_array(t)


def write_seeded_inputs(m, batch, folder, prefix=""):
    """One standard-normal FP32 TensorProto file per graph input of `m` (seed 0; symbolic dims = batch), in order.
    Shared with scripts/fp16_weight_floor.py and scripts/rescale_zoo_model.py, so all three see the same inputs."""
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(0)
    files = []
    for i, vi in enumerate(x for x in m.graph.input if x.name not in inits):
        dims = [dd.dim_value if dd.dim_value > 0 else batch for dd in vi.type.tensor_type.shape.dim]
        f = os.path.join(folder, f"{prefix}in{i}.pb")
        with open(f, "wb") as out:
            out.write(numpy_helper.from_array(rng.standard_normal(dims).astype(np.float32), vi.name).SerializeToString())
        files.append(f)
    return files


def ferry_outputs(ferry, model, files, out_dir, extra=()):
    """`ferry run MODEL FILES -o OUT_DIR --quiet EXTRA`: its outputs as arrays, in output order (RuntimeError with
    the end of stderr when it fails). Shared with scripts/fp16_weight_floor.py, scripts/rescale_zoo_model.py and
    tests/cuda/device_torch_fp16_accuracy.py."""
    p = subprocess.run([ferry, "run", model, *files, "-o", out_dir, "--quiet", *extra], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip()[-300:])
    return [load_pb(os.path.join(out_dir, f)) for f in sorted(x for x in os.listdir(out_dir) if x.startswith("output_"))]


def run(cmd, timeout=600):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("zoo")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,resnet18,efficientnet_b0,vit_b_16,bert_tiny_enc,yolo_like")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bench", nargs="*", default=[])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    a = ap.parse_args()
    rows, bench_rows = [], []
    for name in a.models.split(","):
        path = os.path.join(a.zoo, name + ".onnx")
        if not os.path.exists(path):
            rows.append((name, "missing", "", "", "")); continue
        m = onnx.load(path, load_external_data=False)
        with tempfile.TemporaryDirectory() as d:
            files = write_seeded_inputs(m, a.batch, d)
            res = {}
            for tag, extra in [("cpu", []), ("fp32", ["--device", "cuda"]), ("fp16", ["--device", "cuda", "--precision", "fp16"]),
                               ("fp16g", ["--device", "cuda", "--precision", "fp16", "--cuda-graph"])]:
                od = os.path.join(d, tag)
                rep = ["--repeat", str(a.repeat)] if extra and a.repeat > 1 else []
                rc, log, secs = run([a.ferry, "run", path, *files, "-o", od, *extra, *rep])
                dev = [l for l in log.splitlines() if l.startswith("device:")]
                if rc != 0 and "differs from run 1" in log:
                    res[tag] = (None, "RUNS DIFFER: " + log.strip().splitlines()[-1][-160:], secs)
                    continue
                if rc != 0:
                    res[tag] = (None, log.strip().splitlines()[-1][:200] if log.strip() else f"rc {rc}", secs)
                    continue
                outs = sorted(f for f in os.listdir(od) if f.startswith("output_"))
                res[tag] = ([load_pb(os.path.join(od, f)) for f in outs], dev[0][8:] if dev else "", secs)
            ref = res["cpu"][0]
            cells = []
            for tag, (rtol, atol) in [("fp32", (1e-4, 1e-4)), ("fp16", (1e-2, 1e-3)), ("fp16g", (1e-2, 1e-3))]:
                got, info, secs = res[tag]
                if got is None or ref is None:
                    cells.append(f"ERROR {info if got is None else res['cpu'][1]}"); continue
                worst, rel, ok, outside, total = 0.0, 0.0, True, 0, 0
                for r, g in zip(ref, got):
                    if not np.all(np.isfinite(g)) and np.all(np.isfinite(r)): ok = False
                    err = np.abs(g.astype(np.float64) - r) - (atol + rtol * np.abs(r))
                    worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - r))))
                    rel = max(rel, float(np.linalg.norm(g.astype(np.float64) - r) / max(np.linalg.norm(r), 1e-30)))
                    ok = ok and bool(np.all(err <= 0))
                    outside += int(np.sum(err > 0)); total += err.size
                cells.append(f"{'PASS' if ok else 'FAIL'} max|d|={worst:.2e} relL2={rel:.1e} "
                             f"outside {100.0 * outside / max(total, 1):.2f}% ({secs:.1f}s)")
            rows.append((name, *cells, res["fp16"][1] if res["fp16"][0] is not None else ""))
            print(rows[-1], flush=True)
    for case in a.bench:
        name, batches = case.split(":")
        path = os.path.join(a.zoo, name + ".onnx")
        for b in batches.split(","):
            for extra in ([], ["--cuda-graph"], ["--cuda-graph", "--no-data-transfers"]):
                it = "30" if int(b) > 8 else "200"
                cmd = [a.ferry, "bench", path, "--device", "cuda", "--precision", "fp16", "--batch", b, "--warmup", "10",
                       "--iterations", it, "--json", *extra]
                rc, log, secs = run(cmd, timeout=300)
                try:
                    j = json.loads(log.strip().splitlines()[-1])
                    bench_rows.append((name, b, " ".join(extra) or "-", f"{j['median_ms']:.3f}", f"{j['throughput_qps']:.0f}",
                                       f"{j.get('gpu_compute', {}).get('median_ms', 0):.3f}", f"{j.get('h2d', {}).get('median_ms', 0):.3f}",
                                       f"{j.get('d2h', {}).get('median_ms', 0):.3f}", j.get("device_summary", "")[:160]))
                except Exception:
                    bench_rows.append((name, b, " ".join(extra) or "-", "ERROR", log.strip()[-300:], "", "", "", ""))
                print(bench_rows[-1], flush=True)
    lines = ["| model | cuda fp32 vs cpu | cuda fp16 vs cpu | fp16 + CUDA graph | partition (fp16) |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    lines += ["", "| model | batch | flags | median ms | img/s | GPU compute ms | H2D ms | D2H ms | program |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in bench_rows]
    text = "\n".join(lines)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    open(os.path.join(a.out, "device_zoo_check.md"), "w").write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
