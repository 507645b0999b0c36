#!/usr/bin/env python3
"""On the GPU machine: does PyTorch's own FP16 meet issue 6's elementwise rule on the same zoo weights?

usage: device_torch_fp16_accuracy.py FERRY ZOO_DIR EXPORT_ZOO_PY [--models a,b] [--batch 32] [--out FILE.md]

For each zoo model, one set of seeded inputs (tests/cuda/device_zoo_check.py's, seed 0) goes through:
  ferry cpu (the reference, FP32), ferry cuda fp16 + CUDA graph, and PyTorch on the same GPU:
  torch fp32 (TF32 off: checks that torch holds the same weights as the ONNX file, rule 1e-4/1e-4),
  torch fp16 (model.half(), channels_last for images: what a user calls "FP16 inference"), and
  torch autocast fp16 (mixed precision: softmax/norms in FP32).
The torch models are rebuilt from EXPORT_ZOO_PY's builders with its seed (torch.manual_seed(0) before each),
which is how the ONNX files were made. Each FP16 result is scored like the zoo check: the share of values
outside |x - ref| <= 1e-3 + 1e-2 |ref|, max |d| and relative L2. vit_b_16 is scored as vit_b_16_probe (its
zoo head is zero-init): the head's input, i.e. torch with heads = Identity.
"""
import argparse, copy, os, sys, tempfile
import numpy as np
import onnx
import torch
from device_zoo_check import ferry_outputs, load_pb, write_seeded_inputs


def zoo_builders(export_zoo_py):
    """The `zoo` dict of export_zoo.py without running its export loop (the source up to `names = sys.argv`)."""
    src = open(export_zoo_py).read()
    ns = {"__name__": "export_zoo_builders"}
    saved = sys.argv
    sys.argv = ["export_zoo.py", tempfile.mkdtemp()]
    try:
        exec(compile(src[:src.index("\nnames = ")], export_zoo_py, "exec"), ns)
    finally:
        sys.argv = saved
    return ns["zoo"]


def score(got, ref, rtol, atol):
    got = got.astype(np.float64)
    d = np.abs(got - ref)
    outside = float(np.mean(d > atol + rtol * np.abs(ref))) * 100.0
    rel = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))
    finite = bool(np.all(np.isfinite(got)))
    ok = finite and outside == 0.0
    return f"{'PASS' if ok else 'FAIL'} outside {outside:.2f}% max|d|={float(np.max(d)):.1e} relL2={rel:.1e}" + (
        "" if finite else " NaN/Inf")


def ferry_run(ferry, model, files, out_dir, extra):
    return ferry_outputs(ferry, model, files, out_dir, extra)[0]


def torch_runs(model, x):
    """fp32 (no TF32), fp16 (.half(), channels_last for 4-D inputs), autocast fp16; outputs as float64 numpy."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    xt = torch.from_numpy(x).to(dev)
    res = {}
    with torch.no_grad():
        m32 = copy.deepcopy(model).to(dev).eval()
        res["torch fp32"] = m32(xt)
        with torch.autocast("cuda", dtype=torch.float16):
            res["torch autocast fp16"] = m32(xt)
        m16 = copy.deepcopy(model).to(dev).half().eval()
        x16 = xt.half()
        if x16.dim() == 4:
            m16 = m16.to(memory_format=torch.channels_last)
            x16 = x16.contiguous(memory_format=torch.channels_last)
        res["torch fp16"] = m16(x16)
    return {k: v.float().cpu().numpy().astype(np.float64) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("zoo"); ap.add_argument("export_zoo")
    ap.add_argument("--models", default="resnet50,resnet18,vit_b_16_probe,bert_tiny_enc,yolo_like,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    builders = zoo_builders(a.export_zoo)
    rows = []
    for name in a.models.split(","):
        path = os.path.join(a.zoo, name + ".onnx")
        base = "vit_b_16" if name == "vit_b_16_probe" else name
        if not os.path.exists(path) or base not in builders:
            rows.append((name, "missing", "", "", "")); continue
        with tempfile.TemporaryDirectory() as d:
            files = write_seeded_inputs(onnx.load(path, load_external_data=False), a.batch, d)
            x = load_pb(files[0])
            try:
                ref = ferry_run(a.ferry, path, files, os.path.join(d, "cpu"), []).astype(np.float64)
                f16 = ferry_run(a.ferry, path, files, os.path.join(d, "f16"),
                                ["--device", "cuda", "--precision", "fp16", "--cuda-graph"])
            except RuntimeError as e:
                rows.append((name, f"ferry ERROR {e}", "", "", "")); continue
            torch.manual_seed(0)
            model = builders[base][0]()
            if name == "vit_b_16_probe":
                model.heads = torch.nn.Identity()
            t = torch_runs(model, x)
            rms = float(np.sqrt(np.mean(ref ** 2)))
            rows.append((f"{name} (rms {rms:.1e})", score(t["torch fp32"], ref, 1e-4, 1e-4),
                         score(f16, ref, 1e-2, 1e-3), score(t["torch fp16"], ref, 1e-2, 1e-3),
                         score(t["torch autocast fp16"], ref, 1e-2, 1e-3)))
        print(rows[-1], flush=True)
    lines = [f"batch {a.batch}, reference: ferry cpu FP32; FP16 rule |d| <= 1e-3 + 1e-2|ref| (issue 6)", "",
             "| model | torch fp32 vs ref (1e-4: same weights?) | ferry cuda fp16 + graph | torch fp16 (.half, channels_last) "
             "| torch autocast fp16 |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if a.out:
        open(a.out, "w").write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
