#!/usr/bin/env python3
"""ferry quantize end to end: QDQ output runs in ferry (close to float) and in ONNX Runtime (same results);
bad calibration data exits 2 with a clear message; a model without Conv/MatMul/Gemm is written unchanged.

usage: quantize_cli_test.py FERRY FIXTURES_DIR [PEERS_DIR]"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

FERRY, FIX = sys.argv[1], sys.argv[2]
PEERS = sys.argv[3] if len(sys.argv) > 3 else None
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    p = subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def read(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def main():
    tmp = tempfile.mkdtemp(prefix="ferry_quant_cli_")
    try:
        model = os.path.join(FIX, "demo_cnn.onnx")
        rng = np.random.RandomState(0)
        calib = os.path.join(tmp, "calib")
        for b in range(4):
            os.makedirs(os.path.join(calib, f"test_data_set_{b}"))
            write_pb(os.path.join(calib, f"test_data_set_{b}", "input_0.pb"),
                     rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32), "image")
        npy = os.path.join(tmp, "npy")
        os.makedirs(npy)
        for b in range(3):
            np.save(os.path.join(npy, f"b{b}.npy"), rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
        x = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
        xin = os.path.join(tmp, "x.pb")
        write_pb(xin, x, "image")
        rc, out = run("run", model, xin, "-o", os.path.join(tmp, "ref"), "--quiet")
        check(rc == 0, "float model runs: " + out)
        ref = read(os.path.join(tmp, "ref", "output_0.pb"))

        configs = [["--method", "minmax"], ["--method", "percentile", "--percentile", "99.9"],
                   ["--method", "entropy", "--per-channel"], ["--method", "mse", "--asymmetric"]]
        for k, cfg in enumerate(configs):
            q = os.path.join(tmp, f"q{k}.onnx")
            rc, out = run("quantize", model, q, "--calib-data", calib, "--quiet", *cfg)
            check(rc == 0, f"quantize {cfg}: {out.strip()}")
            m = onnx.load(q)
            onnx.checker.check_model(m)
            ops = [n.op_type for n in m.graph.node]
            check(ops.count("QuantizeLinear") == 3 and ops.count("DequantizeLinear") == 6, f"QDQ nodes {cfg}")
            check(any(t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4 for t in m.graph.initializer),
                  f"int8 conv weights stored {cfg}")
            od = os.path.join(tmp, f"fq{k}")
            rc, out = run("run", q, xin, "-o", od, "--quiet")
            check(rc == 0, f"ferry runs QDQ {cfg}: {out.strip()}")
            got = read(os.path.join(od, "output_0.pb"))
            err = np.abs(got - ref).max()
            check(err < 0.05 * np.abs(ref).max() + 1e-3, f"ferry QDQ close to float {cfg}: max err {err:.5f}")
            if PEERS and os.path.exists(os.path.join(PEERS, "peer_ort_run.js")):
                ort_out = os.path.join(tmp, f"ort{k}")
                os.makedirs(ort_out)
                p = subprocess.run(["node", os.path.join(PEERS, "peer_ort_run.js"), q, ort_out, xin],
                                   capture_output=True, text=True, timeout=300)
                check(p.returncode == 0, f"ORT runs QDQ {cfg}: {p.stderr.strip()[-300:]}")
                if p.returncode == 0:
                    d = np.abs(read(os.path.join(ort_out, "output_0.pb")) - got).max()
                    check(d < 1e-3, f"ORT == ferry on QDQ {cfg}: max diff {d:.2e}")

        rc, out = run("quantize", model, os.path.join(tmp, "npy.onnx"), "--calib-data", npy, "--quiet")
        check(rc == 0, "npy calibration folder: " + out.strip())
        rc, out = run("quantize", model, os.path.join(tmp, "r.onnx"), "--calib-random", "2", "--exclude", "fc", "--quiet")
        check(rc == 0 and [n.op_type for n in onnx.load(os.path.join(tmp, "r.onnx")).graph.node].count("QuantizeLinear") == 2,
              "--exclude keeps fc in float")
        js = os.path.join(tmp, "sens.json")
        rc, out = run("quantize", model, os.path.join(tmp, "a.onnx"), "--calib-data", calib, "--analyze",
                      "--analyze-json", js, "--accuracy-budget", "500")
        check(rc == 0 and "| rank | node |" in out and "NOT met" in out, "--analyze table + impossible budget: " + out[-400:])
        j = json.load(open(js))
        check(len(j["layers"]) == 3 and len(j["budget"]["kept_float"]) == 3, "analyze JSON")

        # --accuracy-budget X --eval CMD: CMD prints a metric for {model}; here 100 - 10 per QuantizeLinear, so
        # FP32 scores 100, full INT8 (3 Q) 70, and a budget of 15 needs two layers back in FP32.
        ev = ("/usr/bin/python3 -c \"import onnx,sys; m=onnx.load(sys.argv[1]); "
              "print('acc', 100 - 10 * sum(n.op_type == 'QuantizeLinear' for n in m.graph.node))\" {model}")
        ejs = os.path.join(tmp, "eval.json")
        evq = os.path.join(tmp, "eval.onnx")
        rc, out = run("quantize", model, evq, "--calib-data", calib, "--accuracy-budget", "15", "--eval", ev,
                      "--analyze-json", ejs, "--quiet")
        check(rc == 0 and "met after keeping 2 layer(s)" in out, "--eval fallback: " + out[-400:])
        je = json.load(open(ejs))["budget"]
        check(je["fp32_metric"] == 100 and je["int8_metric"] == 70 and je["metric_after"] == 90 and je["met"],
              f"--eval JSON: {je}")
        check([n.op_type for n in onnx.load(evq).graph.node].count("QuantizeLinear") == 1, "--eval result written")
        rc, out = run("quantize", model, evq, "--calib-data", calib, "--accuracy-budget", "0", "--eval", "echo 91.5",
                      "--quiet")
        check(rc == 0 and "met with every layer quantized" in out, "--eval constant metric: " + out[-300:])
        rc, out = run("quantize", model, evq, "--calib-data", calib, "--eval", "echo 1")
        check(rc == 2 and "--accuracy-budget" in out, "--eval without a budget -> exit 2: " + out.strip())
        rc, out = run("quantize", model, evq, "--calib-data", calib, "--accuracy-budget", "1", "--eval", "false")
        check(rc != 0 and "--eval command failed" in out, "failing --eval command -> error: " + out.strip()[-300:])
        rc, out = run("quantize", model, evq, "--calib-data", calib, "--accuracy-budget", "1", "--eval", "echo none")
        check(rc != 0 and "printed no number" in out, "--eval without a number -> error: " + out.strip()[-300:])

        # Bad calibration data.
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        rc, out = run("quantize", model, os.path.join(tmp, "x.onnx"), "--calib-data", empty)
        check(rc == 2 and "no batches" in out, "empty folder -> exit 2: " + out.strip())
        rc, out = run("quantize", model, os.path.join(tmp, "x.onnx"), "--calib-data", os.path.join(tmp, "nope"))
        check(rc == 2 and "does not exist" in out, "missing folder -> exit 2: " + out.strip())
        for name, arr, needle in [("shape", rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32), "shape"),
                                  ("dtype", np.zeros((1, 3, 32, 32), np.int64), "dtype"),
                                  ("nan", np.full((1, 3, 32, 32), np.nan, np.float32), "NaN")]:
            d = os.path.join(tmp, "bad_" + name, "set0")
            os.makedirs(d)
            write_pb(os.path.join(d, "input_0.pb"), arr, "image")
            rc, out = run("quantize", model, os.path.join(tmp, "x.onnx"), "--calib-data", os.path.dirname(d))
            check(rc == 2 and needle in out and "error" in out, f"bad calibration {name} -> exit 2: {out.strip()}")

        # No quantizable op: unchanged copy plus a warning.
        plain = os.path.join(FIX, "tiny_add.onnx")
        dst = os.path.join(tmp, "plain_q.onnx")
        rc, out = run("quantize", plain, dst, "--calib-random", "1")
        check(rc == 0 and "warning" in out and open(plain, "rb").read() == open(dst, "rb").read(),
              "no quantizable op -> unchanged with a warning")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
