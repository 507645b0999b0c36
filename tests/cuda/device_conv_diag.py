#!/usr/bin/env python3
"""On the GPU machine: small conv graphs (stem + Clip, depthwise, 1x1 + residual, the unit test's block) through
`ferry run --device cuda` against ferry's CPU backend, per precision and conv path; prints max |cuda - cpu| over
max |cpu| for each. Isolates which conv form is wrong when a zoo check or a unit test fails.

usage: device_conv_diag.py FERRY [--out DIR]
"""
import os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as TP


def model(kind, rng):
    def r(*s, sc=1.0):
        return rng.uniform(-sc, sc, s).astype(np.float32)
    P1, P0 = [1, 1, 1, 1], [0, 0, 0, 0]
    inits = {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    nodes, cin = [], 3
    if kind == "stem_clip":
        inits.update(w1=r(16, 3, 3, 3, sc=.8), b1=r(16, sc=.5))
        nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=P1, kernel_shape=[3, 3]),
                 h.make_node("Clip", ["c", "lo", "hi"], ["out"])]
    elif kind in ("dw", "dw_clip", "dw_s2"):
        cin = 16
        inits.update(wd=r(16, 1, 3, 3, sc=.8), bd=r(16, sc=.5))
        nodes = [h.make_node("Conv", ["x", "wd", "bd"], ["c" if kind == "dw_clip" else "out"], pads=P1, kernel_shape=[3, 3],
                             group=16, strides=[2, 2] if kind == "dw_s2" else [1, 1])]
        if kind == "dw_clip":
            nodes.append(h.make_node("Clip", ["c", "lo", "hi"], ["out"]))
    elif kind == "pw_add":
        cin = 16
        inits.update(wp=r(16, 16, 1, 1, sc=.4), bp=r(16, sc=.1))
        nodes = [h.make_node("Conv", ["x", "wp", "bp"], ["c"], pads=P0, kernel_shape=[1, 1]),
                 h.make_node("Add", ["c", "x"], ["out"])]
    elif kind == "pw_clip":
        cin = 16
        inits.update(wp=r(96, 16, 1, 1, sc=.4), bp=r(96, sc=.1))
        nodes = [h.make_node("Conv", ["x", "wp", "bp"], ["c"], pads=P0, kernel_shape=[1, 1]),
                 h.make_node("Clip", ["c", "lo", "hi"], ["out"])]
    elif kind == "block":
        inits.update(w1=r(16, 3, 3, 3, sc=.8), b1=r(16, sc=.5), wd=r(16, 1, 3, 3, sc=.8), bd=r(16, sc=.5),
                     wp=r(16, 16, 1, 1, sc=.4), bp=r(16, sc=.1), w3=r(16, 16, 3, 3, sc=.2))
        nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=P1, kernel_shape=[3, 3]),
                 h.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
                 h.make_node("Conv", ["r1", "wd", "bd"], ["cd"], pads=P1, kernel_shape=[3, 3], group=16),
                 h.make_node("Clip", ["cd", "lo", "hi"], ["rd"]),
                 h.make_node("Conv", ["rd", "wp", "bp"], ["cp"], pads=P0, kernel_shape=[1, 1]),
                 h.make_node("Add", ["cp", "r1"], ["a1"]),
                 h.make_node("Conv", ["a1", "w3"], ["c3"], pads=P1, kernel_shape=[3, 3]),
                 h.make_node("Add", ["a1", "c3"], ["a3"]), h.make_node("Relu", ["a3"], ["out"])]
    g = h.make_graph(nodes, kind, [h.make_tensor_value_info("x", TP.FLOAT, ["N", cin, 16, 16])],
                     [h.make_tensor_value_info("out", TP.FLOAT, None)],
                     [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    return m, cin


def load(path):
    t = onnx.TensorProto()
    t.ParseFromString(open(path, "rb").read())
    return nh.to_array(t)


def main():
    ferry = sys.argv[1]
    rng = np.random.default_rng(1)
    configs = [("cpu", [], {}), ("fp32", ["--device", "cuda"], {}),
               ("fp16", ["--device", "cuda", "--precision", "fp16"], {}),
               ("fp16-legacy", ["--device", "cuda", "--precision", "fp16"], {"FERRY_CUDNN_GRAPH": "0"}),
               ("fp16-nopad-legacy", ["--device", "cuda", "--precision", "fp16"],
                {"FERRY_CUDNN_GRAPH": "0", "FERRY_CUDA_PAD_CHANNELS": "0"}),
               ("fp16-grouped-graph", ["--device", "cuda", "--precision", "fp16"], {"FERRY_CUDNN_GRAPH_GROUPED": "1"}),
               ("fp16-dwkernel", ["--device", "cuda", "--precision", "fp16"], {"FERRY_CUDA_DW_KERNEL": "1"}),
               ("bf16-dwkernel", ["--device", "cuda", "--precision", "bf16"], {"FERRY_CUDA_DW_KERNEL": "1"})]
    for kind in ["stem_clip", "dw", "dw_s2", "dw_clip", "pw_add", "pw_clip", "block"]:
        m, cin = model(kind, rng)
        with tempfile.TemporaryDirectory() as d:
            mp = os.path.join(d, "m.onnx")
            onnx.save(m, mp)
            x = rng.uniform(-2, 2, (2, cin, 16, 16)).astype(np.float32)
            xp = os.path.join(d, "x.pb")
            open(xp, "wb").write(nh.from_array(x, "x").SerializeToString())
            res, line = {}, []
            for tag, args, env in configs:
                od = os.path.join(d, tag)
                p = subprocess.run([ferry, "run", mp, xp, "-o", od, *args], capture_output=True, text=True,
                                   env={**os.environ, **env}, timeout=120)
                if p.returncode != 0:
                    line.append(f"{tag}: ERROR {(p.stdout + p.stderr).strip()[-160:]}")
                    continue
                res[tag] = load(os.path.join(od, "output_0.pb"))
                if tag != "cpu" and "cpu" in res:
                    ref = res["cpu"].astype(np.float64)
                    err = np.abs(res[tag] - ref).max() / max(np.abs(ref).max(), 1e-30)
                    line.append(f"{tag} {err:.1e}" + ("" if np.all(np.isfinite(res[tag])) else " NaN/Inf"))
            print(f"{kind:10s} max|ref| {np.abs(res.get('cpu', np.zeros(1))).max():7.3f} | " + " | ".join(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
