#!/usr/bin/env python3
"""The transformer fusions on torch 2.x's form of nn.MultiheadAttention, from a torch 1.13 zoo export.

usage: torch2_attention_form_test.py FERRY MODEL.onnx INPUT_SHAPE [PROBE_OUTPUT]

Debian's torch (1.13) splits the packed QKV projection P [S, N, 3E] with three Slices; torch >= 2.0 writes
Reshape(P, [S, N, 3, E]) -> Unsqueeze(0) -> Transpose(3, 1, 2, 0, 4) -> Squeeze(3) -> Gather(0|1|2). This test
rewrites every such Slice triple of MODEL into the torch 2.x chain (the device's torch exports it), then checks that
`ferry optimize --level all --input-shape` leaves no Gather of that chain and no layout Transpose of the attention
(unpack_qkv_gather + fuse_attention + attention_batch_major), and that `ferry run` of the rewritten model (all
optimizations) matches `ferry run --opt-level none` of the original (rtol/atol 1e-4). PROBE_OUTPUT names a value
to expose as an extra output (vit_b_16's real output is all zeros: its head is zero-initialized).
Exit 77 (skip) without python3-onnx / numpy.
"""
import os, subprocess, sys, tempfile

try:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError as e:
    print("skip:", e)
    sys.exit(77)


def to_torch2_form(model):
    g = model.graph
    producers = {o: n for n in g.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    by_input = {}
    for n in g.node:
        if n.op_type == "Slice" and len(n.input) >= 4:
            by_input.setdefault(n.input[0], []).append(n)
    new_nodes, replaced, count = [], set(), 0
    for p, slices in by_input.items():
        if len(slices) != 3 or not p.endswith("self_attention/Add_output_0") and not p.endswith("self_attn/Add_output_0"):
            continue
        count += 1
        base = p + "_t2"
        mk = lambda name, arr: g.initializer.append(numpy_helper.from_array(np.array(arr, dtype=np.int64), name))
        # [S, N, 3, E] with S and N copied (0) from P
        e = None
        for sl in slices:
            if sl.input[2] in consts and sl.input[1] in consts:
                e = int(consts[sl.input[2]].reshape(-1)[0] - consts[sl.input[1]].reshape(-1)[0])
        mk(base + "_shape", [0, 0, 3, -1])
        mk(base + "_ax0", [0])
        mk(base + "_ax3", [3])
        new_nodes += [helper.make_node("Reshape", [p, base + "_shape"], [base + "_r"]),
                      helper.make_node("Unsqueeze", [base + "_r", base + "_ax0"], [base + "_u"]),
                      helper.make_node("Transpose", [base + "_u"], [base + "_tr"], perm=[3, 1, 2, 0, 4]),
                      helper.make_node("Squeeze", [base + "_tr", base + "_ax3"], [base + "_sq"])]
        # Slices are in q, k, v order of their start offsets (shape arithmetic: order of appearance).
        for k, sl in enumerate(slices):
            g.initializer.append(numpy_helper.from_array(np.array(k, dtype=np.int64), f"{base}_i{k}"))
            new_nodes.append(helper.make_node("Gather", [base + "_sq", f"{base}_i{k}"], [sl.output[0]], axis=0))
            replaced.add(id(sl))
    kept = [n for n in g.node if id(n) not in replaced]
    del g.node[:]
    g.node.extend(kept + new_nodes)
    # topological order
    order, done, avail = [], set(), {i.name for i in g.input} | {i.name for i in g.initializer}
    pending = list(g.node)
    while pending:
        rest = []
        for n in pending:
            if all(i == "" or i in avail for i in n.input):
                order.append(n); avail.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RuntimeError("cycle")
        pending = rest
    del g.node[:]
    g.node.extend(order)
    return count


def main():
    ferry, path, shape = sys.argv[1:4]
    probe = sys.argv[4] if len(sys.argv) > 4 else None
    if not os.path.exists(path):
        print("skip: no", path)
        return 77
    m = onnx.load(path)
    if probe:
        m.graph.output.append(helper.make_tensor_value_info(probe, TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as d:
        orig = os.path.join(d, "orig.onnx")
        onnx.save(m, orig)
        n = to_torch2_form(m)
        assert n > 0, "no packed-projection Slice triples found"
        t2 = os.path.join(d, "t2.onnx")
        onnx.save(m, t2)
        name = m.graph.input[0].name
        opt = os.path.join(d, "opt.onnx")
        log = subprocess.run([ferry, "optimize", "--level", "all", "--input-shape", f"{name}:{shape}", t2, opt],
                             capture_output=True, text=True)
        assert log.returncode == 0, log.stdout + log.stderr
        om = onnx.load(opt, load_external_data=False)
        ops = [x.op_type for x in om.graph.node]
        print(f"{n} attention blocks in torch 2.x form; optimized: {len(ops)} nodes, "
              f"{ops.count('SdpAttention')} SdpAttention, {ops.count('Gather')} Gather, {ops.count('Transpose')} Transpose")
        assert ops.count("SdpAttention") == n, ops
        sdp = [x for x in om.graph.node if x.op_type == "SdpAttention"]
        for x in sdp:
            a = {at.name: helper.get_attribute_value(at) for at in x.attribute}
            assert a.get("num_heads", 0) > 0 and a.get("seq_major", 1) == 0, a
        assert ops.count("Squeeze") == 0, "the torch 2.x chain was not absorbed"
        outs = {}
        for tag, model, level in [("ref", orig, "none"), ("t2", t2, "all")]:
            od = os.path.join(d, tag)
            r = subprocess.run([ferry, "run", model, "--shape", f"{name}:{shape}", "--opt-level", level, "-o", od,
                                "--quiet"], capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
            outs[tag] = [numpy_helper.to_array(onnx.load_tensor(os.path.join(od, f))) for f in sorted(os.listdir(od))]
        for a, b in zip(outs["ref"], outs["t2"]):
            err = float(np.max(np.abs(a - b))) if a.size else 0.0
            print(f"output {a.shape}: max |d| {err:.2e} (max |ref| {float(np.max(np.abs(a))) if a.size else 0:.2e})")
            assert np.allclose(b, a, rtol=1e-4, atol=1e-4), err
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
