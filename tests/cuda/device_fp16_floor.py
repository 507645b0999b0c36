#!/usr/bin/env python3
"""On the GPU machine: how close can FP16 get? PyTorch FP16 vs PyTorch FP32 beside ferry FP16 vs ferry's CPU.

usage: device_fp16_floor.py FERRY ZOO_DIR [--models resnet50,resnet18] [--batch 2] [--out DIR]

For each model the zoo file was exported from (bench/../export_zoo.py: torchvision, weights from torch.manual_seed(0)),
the same seeded inputs as tests/cuda/device_zoo_check.py go through torch on the GPU in FP32 (TF32 off) and in FP16
(model.half(), channels_last), and through `ferry run` on the CPU and on cuda fp16. Each FP16 result is compared
with its FP32 reference under issue 6's elementwise rule |x - ref| <= 1e-3 + 1e-2 |ref|: the share of elements
outside it, max |d| and relative L2. If PyTorch's own FP16 misses the rule by as much as ferry's, the rule asks
more than FP16 storage of weights and activations can give on that model (and ferry's FP16 is as accurate as
PyTorch's). Prints a markdown table (also written to OUT/fp16_floor.md).
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import numpy_helper


def stats(x, ref):
    x, ref = x.astype(np.float64), ref.astype(np.float64)
    d = np.abs(x - ref)
    bad = float(np.mean(d > 1e-3 + 1e-2 * np.abs(ref)))
    return f"{bad * 100:.1f}% out, max {d.max():.1e}, relL2 {np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-30):.1e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ferry"); ap.add_argument("zoo")
    ap.add_argument("--models", default="resnet50,resnet18")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    a = ap.parse_args()
    import torch, torchvision
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = ["| model | torch fp16 vs torch fp32 | ferry cuda fp16 vs ferry cpu | ferry cuda fp16 vs torch fp32 | ferry cpu vs torch fp32 |",
            "|---|---|---|---|---|"]
    for name in a.models.split(","):
        path = os.path.join(a.zoo, name + ".onnx")
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval().cuda()
        m = onnx.load(path, load_external_data=False)
        vi = m.graph.input[0]
        dims = [d.dim_value if d.dim_value > 0 else a.batch for d in vi.type.tensor_type.shape.dim]
        x = np.random.default_rng(0).standard_normal(dims).astype(np.float32)  # as device_zoo_check.py
        with torch.inference_mode():
            t32 = model(torch.from_numpy(x).cuda()).float().cpu().numpy()
            mh = model.half().to(memory_format=torch.channels_last)
            t16 = mh(torch.from_numpy(x).cuda().half().to(memory_format=torch.channels_last)).float().cpu().numpy()
        res = {}
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "in.pb")
            open(f, "wb").write(numpy_helper.from_array(x, vi.name).SerializeToString())
            for tag, extra in [("cpu", []), ("fp16", ["--device", "cuda", "--precision", "fp16"])]:
                od = os.path.join(d, tag)
                p = subprocess.run([a.ferry, "run", path, f, "-o", od, "--quiet", *extra], capture_output=True, text=True)
                if p.returncode != 0:
                    print(p.stdout + p.stderr); return 1
                out = sorted(x for x in os.listdir(od) if x.startswith("output_"))[0]
                t = onnx.TensorProto(); t.ParseFromString(open(os.path.join(od, out), "rb").read())
                res[tag] = numpy_helper.to_array(t)
        rows.append(f"| {name} | {stats(t16, t32)} | {stats(res['fp16'], res['cpu'])} | {stats(res['fp16'], t32)} | "
                    f"{stats(res['cpu'], t32)} |")
        print(rows[-1], flush=True)
    text = "\n".join(rows)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    open(os.path.join(a.out, "fp16_floor.md"), "w").write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
