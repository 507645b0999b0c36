#!/usr/bin/env python3
"""On the GPU machine: the same `ferry run` on cuda, repeated, against one CPU reference — for intermittent bugs.

usage: device_repeat_check.py FERRY 'MODEL|NAME:SHAPE|REPEATS|ENV=V,ENV2=V2|FLAGS' ...

Each spec runs MODEL on the CPU once (seeded random input of SHAPE, `--shape NAME:SHAPE`) and then REPEATS times with
`--device cuda` and FLAGS (default `--precision fp16`) under the extra environment ENV, printing the relative L2
error of the whole output and of its worst batch item. Written for gpu.md's "Known bug" (FP16 graph-API convs wrong
on the first images at batch 16-32 in some runs); scripts/device_fp16_race.sh runs the A/B of the candidate fixes.
"""
import os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import numpy_helper


def run(ferry, model, shape, extra, env, d):
    od = tempfile.mkdtemp(dir=d)
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run([ferry, "run", model, "--shape", shape, "-o", od, "--quiet", *extra], env=e,
                       capture_output=True, text=True)
    outs = sorted(f for f in os.listdir(od) if f.startswith("output_"))
    if not outs:
        return None, p.stderr[-200:]
    t = onnx.TensorProto()
    t.ParseFromString(open(os.path.join(od, outs[-1]), "rb").read())
    # With --repeat, a non-zero exit after written outputs means a later run differed from the first.
    return numpy_helper.to_array(t).astype(np.float64), (p.stderr.strip()[-240:] if p.returncode else "")


def main():
    ferry = sys.argv[1]
    bad_total = 0
    refs = {}  # (model, shape) -> CPU output, computed once
    with tempfile.TemporaryDirectory() as d:
        for spec in sys.argv[2:]:
            model, shape, reps, envs, *flags = spec.split("|")
            prec = flags[0].split() if flags and flags[0] else ["--precision", "fp16"]
            env = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
            if (model, shape) not in refs:
                refs[(model, shape)], err = run(ferry, model, shape, [], {}, d)
                if refs[(model, shape)] is None:
                    print("CPU reference failed:", err)
                    return 1
            ref = refs[(model, shape)]
            for _ in range(int(reps)):
                got, err = run(ferry, model, shape, ["--device", "cuda", *prec], env, d)
                if got is None:
                    print(os.path.basename(model), shape, envs, "ERROR", err)
                    continue
                per = [np.linalg.norm(got[i] - ref[i]) / max(np.linalg.norm(ref[i]), 1e-30) for i in range(got.shape[0])]
                rel = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)
                bad_total += max(per) > 1e-2
                bad_items = [i for i, v in enumerate(per) if v > 1e-2]
                print(f"{os.path.basename(model):20s} {shape:22s} {envs[:48]:48s} {' '.join(prec):28s} "
                      f"relL2 {rel:.1e} worst item {max(per):.1e} items off {bad_items[:12]}", flush=True)
                if err:
                    print("   ", err.replace("\n", " "), flush=True)
    print(f"{bad_total} runs with an item off by more than 1e-2 relative L2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
