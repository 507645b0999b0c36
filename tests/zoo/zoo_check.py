#!/usr/bin/python3
"""Runs a zoo model in ferry and in ONNX Runtime on the same seeded random inputs and compares every output.

Usage: zoo_check.py FERRY PEERS_DIR MODEL.onnx [--rtol 1e-3] [--atol 1e-4] [--threads N]
Exit 0 when every output matches within |ferry - ort| <= atol + rtol*|ort|; 1 on mismatch; 77 (skipped) when
the model or the peer is not installed (scripts/setup_peers.sh installs both).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def load(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("peers"); ap.add_argument("model")
    ap.add_argument("--rtol", type=float, default=1e-3); ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probes", type=int, default=8,
                    help="also compare this many intermediate values, evenly spaced through the graph (final "
                         "outputs of randomly initialised classifiers can be ~0 and prove little)")
    a = ap.parse_args()
    print(f"model {a.model}")
    runner = os.path.join(a.peers, "peer_ort_run.js")
    if not os.path.exists(a.model) or not os.path.isdir(os.path.join(a.peers, "node_modules")):
        print(f"SKIP: {a.model} or the ORT peer is missing (run scripts/setup_peers.sh)")
        return 77
    m = onnx.load(a.model)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        if a.probes > 0:
            inferred = onnx.shape_inference.infer_shapes(m)
            typed = {v.name: v for v in inferred.graph.value_info
                     if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
            outs = {o.name for o in m.graph.output}
            cands = [n.output[0] for n in m.graph.node if n.output and n.op_type != "Constant" and n.output[0] in typed and n.output[0] not in outs]
            step = max(1, len(cands) // a.probes)
            for name in cands[step - 1::step][:a.probes]:
                m.graph.output.append(typed[name])
            a.model = os.path.join(d, "probed.onnx")
            onnx.save(m, a.model)
        inputs = []
        for i, vi in enumerate(x for x in m.graph.input if x.name not in inits):
            dims = [dd.dim_value if dd.dim_value > 0 else 1 for dd in vi.type.tensor_type.shape.dim]
            elem = vi.type.tensor_type.elem_type
            if elem == onnx.TensorProto.FLOAT:
                arr = rng.standard_normal(dims).astype(np.float32)
            else:
                arr = rng.integers(0, 8, dims).astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem])
            p = os.path.join(d, f"input_{i}.pb")
            with open(p, "wb") as f:
                f.write(numpy_helper.from_array(arr, vi.name).SerializeToString())
            inputs.append(p)
        out_f, out_o = os.path.join(d, "ferry"), os.path.join(d, "ort")
        os.makedirs(out_f); os.makedirs(out_o)
        r = subprocess.run([a.ferry, "run", a.model, *inputs, "--output-dir", out_f, "--threads", str(a.threads)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("ferry failed:", r.stderr.strip()); return 1
        r = subprocess.run(["node", runner, a.model, out_o, *inputs], capture_output=True, text=True)
        if r.returncode != 0:
            print("ORT failed:", r.stderr.strip()); return 1
        ok = True
        for i in range(len(m.graph.output)):
            got, exp = load(os.path.join(out_f, f"output_{i}.pb")), load(os.path.join(out_o, f"output_{i}.pb"))
            if got.shape != exp.shape or got.dtype != exp.dtype:
                print(f"output {i}: ferry {got.dtype}{got.shape} vs ORT {exp.dtype}{exp.shape}"); ok = False; continue
            diff = np.abs(got.astype(np.float64) - exp.astype(np.float64))
            bad = diff > a.atol + a.rtol * np.abs(exp.astype(np.float64))
            print(f"output {i} '{m.graph.output[i].name}' {exp.shape}: max abs diff {diff.max():.3g}, "
                  f"{int(bad.sum())} of {bad.size} outside rtol {a.rtol} / atol {a.atol}")
            ok = ok and not bad.any()
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
