#!/usr/bin/env python3
"""Rescales a random-init zoo model so every Conv/Gemm output has rms ~1 on seeded inputs (LSUV-style).

usage: scripts/rescale_zoo_model.py FERRY IN.onnx OUT.onnx [--batch 2]

The zoo's seeded random weights make some models' activations fade (mobilenet_v2: rms 4e-6 mid-network, 5e-10 at
the logits; efficientnet_b0: 1e-7 and 1e-14), below FP16's range, so an FP16 engine outputs zeros there and an
FP16-vs-FP32 check on them says nothing (docs/gpu.md "FP16 accuracy"). This keeps the architecture and rescales each
Conv/Gemm's weights and bias, in graph order, by 1 / rms of its output (measured with `ferry run` on the CPU, one
run per layer, earlier layers already rescaled), so FP16 accuracy can be measured on the same layers.
"""
import argparse, os, sys, tempfile
import numpy as np
import onnx
from onnx import helper, numpy_helper
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cuda"))
from device_zoo_check import ferry_outputs, write_seeded_inputs  # noqa: E402  (the zoo check's inputs, seed 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("src"); ap.add_argument("dst")
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args()
    m = onnx.load(a.src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    layers = [n for n in g.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 1 and n.input[1] in inits]
    with tempfile.TemporaryDirectory() as d:
        files = write_seeded_inputs(m, a.batch, d)
        outputs = list(g.output)
        for k, n in enumerate(layers):
            del g.output[:]
            g.output.append(helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None))
            path = os.path.join(d, "probe.onnx")
            onnx.save(m, path)
            od = os.path.join(d, "out")
            try:
                y = ferry_outputs(a.ferry, path, files, od, ["--opt-level", "none"])[0]
            except RuntimeError as e:
                print("ferry run failed:", e); return 1
            rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
            scale = 1.0 / rms if rms > 0 else 1.0
            for name in n.input[1:3]:
                if name in inits:
                    arr = numpy_helper.to_array(inits[name]).astype(np.float32) * np.float32(scale)
                    inits[name].CopyFrom(numpy_helper.from_array(arr, name))
            print(f"{k + 1}/{len(layers)} {n.op_type} {n.name or n.output[0]}: rms {rms:.3g} -> x{scale:.3g}", flush=True)
        del g.output[:]
        g.output.extend(outputs)
    onnx.save(m, a.dst)
    print("wrote", a.dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
