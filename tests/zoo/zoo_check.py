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
    a = ap.parse_args()
    runner = os.path.join(a.peers, "peer_ort_run.js")
    if not os.path.exists(a.model) or not os.path.isdir(os.path.join(a.peers, "node_modules")):
        print(f"SKIP: {a.model} or the ORT peer is missing (run scripts/setup_peers.sh)")
        return 77
    m = onnx.load(a.model, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
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
            print(f"{os.path.basename(a.model)} output {i} {exp.shape}: max abs diff {diff.max():.3g}, "
                  f"{int(bad.sum())} of {bad.size} outside rtol {a.rtol} / atol {a.atol}")
            ok = ok and not bad.any()
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
