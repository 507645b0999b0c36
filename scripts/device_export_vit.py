#!/usr/bin/env python3
# device_export_vit.py ZOO — run in the folder holding export_zoo.py (the device bundle's share/): writes
# ZOO/vit_b_16.onnx and ZOO/vit_b_16_probe.onnx (output = the head's input, since the zoo head is zero-init).
# Used by scripts/device_cuda_transformer.sh and bench/gpu_vs_torch.sh.
# vit_b_16 at opset 13 in the pattern the attention fusion knows (torch 1.13's MultiheadAttention: q scaled, bmm,
# softmax, bmm): force need_weights=True (the explicit path instead of scaled_dot_product_attention, which the
# TorchScript exporter cannot write at opset 13) and no MHA fast path. Falls back to opset 14 (SDPA, not fused).
import functools, runpy, sys, torch
import torch.nn.functional as F
zoo = sys.argv[1]
orig_export, orig_mha = torch.onnx.export, F.multi_head_attention_forward
def mha(*a, **k):
    k["need_weights"] = True
    return orig_mha(*a, **k)
try:
    torch.backends.mha.set_fastpath_enabled(False)
except Exception as e:
    print("fastpath:", e)
F.multi_head_attention_forward = mha
torch.onnx.export = functools.partial(orig_export, dynamo=False)
sys.argv = ["export_zoo.py", zoo, "vit_b_16"]
try:
    runpy.run_path("export_zoo.py", run_name="__main__")
    import onnx
    onnx.load(f"{zoo}/vit_b_16.onnx", load_external_data=False)
    print("exported at opset 13 with need_weights=True")
except BaseException as e:
    print("opset 13 export failed:", repr(e)[:300], "-> opset 14")
    F.multi_head_attention_forward = orig_mha
    def export14(*a, **k):
        k["dynamo"] = False
        k["opset_version"] = 14
        return orig_export(*a, **k)
    torch.onnx.export = export14
    runpy.run_path("export_zoo.py", run_name="__main__")
import onnx
m = onnx.load(f"{zoo}/vit_b_16.onnx")
out = m.graph.output[0].name
head = [n for n in m.graph.node if out in n.output][0]
del m.graph.output[:]
m.graph.output.append(onnx.helper.make_tensor_value_info(head.input[0], onnx.TensorProto.FLOAT, None))
onnx.save(m, f"{zoo}/vit_b_16_probe.onnx")
print("probe output", head.op_type, head.input[0])
