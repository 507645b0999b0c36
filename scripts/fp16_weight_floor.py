#!/usr/bin/python3
"""How far from FP32 does FP16 storage alone put a model? (CPU only, no GPU needed.)

usage: scripts/fp16_weight_floor.py FERRY ZOO_DIR [--models a,b] [--batch 2] [--out FILE.md]

For each zoo model: seeded standard-normal inputs (batch --batch), `ferry run` on the CPU with the model as is
(the reference), (a) with every float initializer rounded to FP16 and back (activations and arithmetic stay FP32),
(b) as (a) plus every float node output rounded to FP16 (Cast to float16 and back after each node: FP16
storage of all tensors, FP32 arithmetic, i.e. an FP16 engine with FP32 accumulation and no fusion), and (c) the
node outputs rounded but the weights kept FP32 (what keeping weights exact, e.g. split into two FP16 halves,
could at best recover). Reported like
tests/cuda/device_zoo_check.py: the share of outputs outside issue 6's elementwise rule |x - ref| <= 1e-3 +
1e-2 |ref|, max |d| and relative L2, and the output's rms. An engine that stores weights (a) or everything (b)
in FP16 cannot be expected to do better than this on that model, whatever its kernels. vit_b_16's zoo head is zero
(outputs 0), so vit_b_16 is also checked as vit_b_16_probe (output = the head's input).
"""
import argparse, os, sys, tempfile
import numpy as np
import onnx
from onnx import numpy_helper
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cuda"))
from device_zoo_check import ferry_outputs, write_seeded_inputs  # noqa: E402  (the zoo check's inputs, seed 0)


def run(ferry, model, inputs, out_dir):
    return [o.astype(np.float64) for o in ferry_outputs(ferry, model, inputs, out_dir)]


def round_weights(m):
    for init in m.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(a.astype(np.float16).astype(np.float32), init.name))


def round_activations(m):
    """After every node, each float output y becomes Cast(Cast(y, float16), float)."""
    from onnx import helper, shape_inference, TensorProto
    inferred = shape_inference.infer_shapes(m)
    floats = {v.name for v in list(inferred.graph.value_info) + list(inferred.graph.output)
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    outputs = {o.name for o in m.graph.output}
    nodes = []
    for n in m.graph.node:
        renamed = {}
        for k, y in enumerate(n.output):
            if y in floats:
                renamed[y] = y + "__f32"
                n.output[k] = renamed[y]
        nodes.append(n)
        for y, raw in renamed.items():
            nodes.append(helper.make_node("Cast", [raw], [y + "__f16"], to=TensorProto.FLOAT16))
            nodes.append(helper.make_node("Cast", [y + "__f16"], [y], to=TensorProto.FLOAT))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.value_info[:]


def probe_of_vit(m):
    out = m.graph.output[0].name
    head = [n for n in m.graph.node if out in n.output][0]
    del m.graph.output[:]
    m.graph.output.append(onnx.helper.make_tensor_value_info(head.input[0], onnx.TensorProto.FLOAT, None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("zoo")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,resnet18,efficientnet_b0,vit_b_16_probe,bert_tiny_enc,yolo_like")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    lines = ["| model | output rms | (a) FP16 weights: outside the rule, max abs diff, relL2 | (b) + every tensor FP16 "
             "| (c) every tensor FP16, FP32 weights |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        for name in a.models.split(","):
            src = os.path.join(a.zoo, name.replace("_probe", "") + ".onnx")
            if not os.path.exists(src):
                lines.append(f"| {name} | missing | | | | |")
                continue
            m = onnx.load(src)
            if name.endswith("_probe"):
                probe_of_vit(m)
            ref_path, half_path = os.path.join(d, name + ".onnx"), os.path.join(d, name + "_w16.onnx")
            all_path = os.path.join(d, name + "_a16.onnx")
            act_path = os.path.join(d, name + "_act16.onnx")
            onnx.save(m, ref_path)
            exact = onnx.ModelProto()
            exact.CopyFrom(m)
            round_activations(exact)
            onnx.save(exact, act_path)
            round_weights(m)
            onnx.save(m, half_path)
            round_activations(m)
            onnx.save(m, all_path)
            files = write_seeded_inputs(m, a.batch, d, name + "_")
            ref = run(a.ferry, ref_path, files, os.path.join(d, name + "_ref"))
            cells = []
            for path, tag in ((half_path, "w16"), (all_path, "a16"), (act_path, "act16")):
                got = run(a.ferry, path, files, os.path.join(d, name + "_" + tag))
                outside = sum(int(np.sum(np.abs(g - r) > 1e-3 + 1e-2 * np.abs(r))) for g, r in zip(got, ref))
                total = sum(r.size for r in ref)
                worst = max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref))
                rel = max(float(np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)) for g, r in zip(got, ref))
                cells.append(f"{100.0 * outside / total:.2f}%, {worst:.2e}, {rel:.1e}")
            rms = max(float(np.sqrt(np.mean(r ** 2))) for r in ref)
            lines.append(f"| {name} | {rms:.2g} | {cells[0]} | {cells[1]} | {cells[2]} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if a.out:
        open(a.out, "w").write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
