#!/usr/bin/python3
"""`ferry optimize` end to end on zoo models: the optimized file passes onnx.checker, and ONNX Runtime running it
gives the same outputs as ONNX Runtime running the original (rtol 1e-3 / atol 1e-4).

Usage: optimize_cli_test.py FERRY PEERS_DIR ZOO_DIR [MODEL ...] [--level extended] [--probes 8]
Probes: intermediate values of the original model are declared graph outputs (evenly spaced) before optimizing,
so the comparison does not rest on final outputs alone (random classifiers can output ~0). A second, unprobed run
checks the fully fused graph. Exit 0 pass, 1 fail, 77 skipped (no zoo models or no ORT peer).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def load_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def add_probes(m, count):
    inferred = onnx.shape_inference.infer_shapes(m)
    typed = {v.name: v for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    outs = {o.name for o in m.graph.output}
    cands = [n.output[0] for n in m.graph.node
             if n.output and n.op_type not in ("Constant", "Identity") and n.output[0] in typed and n.output[0] not in outs]
    step = max(1, len(cands) // count)
    for name in cands[step - 1::step][:count]:
        m.graph.output.append(typed[name])


def write_inputs(m, d):
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(0)
    paths = []
    for i, vi in enumerate(x for x in m.graph.input if x.name not in inits):
        dims = [dd.dim_value if dd.dim_value > 0 else 1 for dd in vi.type.tensor_type.shape.dim]
        elem = vi.type.tensor_type.elem_type
        if elem == onnx.TensorProto.FLOAT:
            arr = rng.standard_normal(dims).astype(np.float32)
        else:
            arr = rng.integers(0, 8, dims).astype(onnx.helper.tensor_dtype_to_np_dtype(elem))
        p = os.path.join(d, f"input_{i}.pb")
        with open(p, "wb") as f:
            f.write(numpy_helper.from_array(arr, vi.name).SerializeToString())
        paths.append(p)
    return paths


def check_model(a, model_path, probes, d):
    tag = f"{os.path.basename(model_path)} ({'probes ' + str(probes) if probes else 'unprobed'})"
    m = onnx.load(model_path)
    if probes:
        add_probes(m, probes)
    orig = os.path.join(d, "orig.onnx")
    onnx.save(m, orig)
    opt = os.path.join(d, "opt.onnx")
    r = subprocess.run([a.ferry, "optimize", orig, opt, "--level", a.level], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{tag}: ferry optimize failed: {r.stderr.strip()}")
        return False
    print(f"{tag}: " + " | ".join(l.strip() for l in r.stdout.splitlines() if l.startswith("nodes")))
    try:
        onnx.checker.check_model(onnx.load(opt), full_check=True)
    except Exception as e:  # noqa: BLE001 - report any checker failure
        print(f"{tag}: onnx.checker rejected the optimized model: {e}")
        return False
    inputs = write_inputs(m, d)
    out_f, out_o = os.path.join(d, "ref"), os.path.join(d, "ort")
    os.makedirs(out_f, exist_ok=True)
    os.makedirs(out_o, exist_ok=True)
    # The reference is ORT on the original model (same engine on both sides, so only the rewrite is compared);
    # ferry's own agreement with ORT is tests/zoo/zoo_check.py's job.
    for model, out, what in ((orig, out_f, "original"), (opt, out_o, "optimized")):
        r = subprocess.run(["node", os.path.join(a.peers, "peer_ort_run.js"), model, out, *inputs],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{tag}: ORT failed on the {what} model: {r.stderr.strip()}")
            return False
    ok = True
    for i, o in enumerate(m.graph.output):
        got = load_tensor(os.path.join(out_o, f"output_{i}.pb"))
        exp = load_tensor(os.path.join(out_f, f"output_{i}.pb"))
        if got.shape != exp.shape or got.dtype != exp.dtype:
            print(f"{tag}: output {i} '{o.name}': optimized {got.dtype}{got.shape} vs original {exp.dtype}{exp.shape}")
            ok = False
            continue
        diff = np.abs(got.astype(np.float64) - exp.astype(np.float64))
        bad = diff > a.atol + a.rtol * np.abs(exp.astype(np.float64))
        if bad.any():
            print(f"{tag}: output {i} '{o.name}': {int(bad.sum())} of {bad.size} differ, max abs {diff.max():.3g}")
            ok = False
    print(f"{tag}: checker ok, {len(m.graph.output)} outputs {'match' if ok else 'DIFFER'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("peers"); ap.add_argument("zoo")
    ap.add_argument("models", nargs="*", default=["mobilenet_v2", "bert_tiny_enc"])
    ap.add_argument("--level", default="extended")
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--rtol", type=float, default=1e-3); ap.add_argument("--atol", type=float, default=1e-4)
    a = ap.parse_args()
    paths = [os.path.join(a.zoo, f"{name}.onnx") for name in a.models]
    if not all(os.path.exists(p) for p in paths) or not os.path.isdir(os.path.join(a.peers, "node_modules")):
        print("SKIP: zoo models or the ORT peer are missing (scripts/setup_peers.sh)")
        return 77
    ok = True
    for p in paths:
        for probes in (0, a.probes):
            with tempfile.TemporaryDirectory() as d:
                ok = check_model(a, p, probes, d) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
