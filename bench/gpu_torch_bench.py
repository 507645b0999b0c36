# gpu_torch_bench.py — PyTorch side of bench/gpu_vs_torch.sh, run on the `device` machine with its python3 (torch).
#
#   python3 bench/gpu_torch_bench.py --out torch.json [--cases resnet50:1,256 ...] [--modes eager,compile]
#       Times each (model, batch) in FP16 on cuda:0: eager (channels_last for conv nets, inference_mode) and
#       torch.compile(mode="reduce-overhead") (CUDA graphs; one compile per shape, dynamic=False). Warm-up, then
#       CUDA events around every iteration; the median is reported. Results are rewritten to --out after every
#       case, so a run cut short keeps what it measured.
#   python3 bench/gpu_torch_bench.py --table --torch torch.json --ferry-dir DIR --meta meta.json
#       Prints the markdown block for docs/benchmarks.md from the torch results, DIR/ferry_<model>_b<B>.json
#       (`ferry bench --json` output) and meta.json (gpu, driver, versions, commands).
# Models are built here as export_zoo.py builds them (torchvision with weights=None, the same BertTinyEnc), so the
# timings do not depend on the ONNX export.
import argparse
import json
import os
import statistics
import sys
import time

DEFAULT_CASES = ["resnet50:1,256", "mobilenet_v2:1,256", "vit_b_16:1,256", "bert_tiny_enc:1,256"]


def build(name):
    import torch
    import torch.nn as nn
    import torchvision

    if name == "bert_tiny_enc":  # mirrors BertTinyEnc in /work/shared/peers/export_zoo.py
        layer = nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, batch_first=True)
        return nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False).eval(), (128, 256)
    return getattr(torchvision.models, name)(weights=None).eval(), (3, 224, 224)


def time_calls(fn, x, iters, warmup):
    import torch

    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for a, b in ev:
        a.record()
        fn(x)
        b.record()
    torch.cuda.synchronize()
    t = sorted(a.elapsed_time(b) for a, b in ev)
    return {"median_ms": statistics.median(t), "p10_ms": t[len(t) // 10], "p90_ms": t[(len(t) * 9) // 10],
            "min_ms": t[0], "iters": iters, "warmup": warmup}


def run_case(name, batch, mode, results):
    import torch

    torch.manual_seed(0)
    model, shape = build(name)
    conv = len(shape) == 3
    model = model.half().cuda()
    x = torch.randn(batch, *shape, device="cuda", dtype=torch.half)
    if conv:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    iters = 200 if batch <= 8 else 30
    rec = {"model": name, "batch": batch, "mode": mode}
    with torch.inference_mode():
        if mode == "compile":
            fn = torch.compile(model, mode="reduce-overhead", dynamic=False)
            t0 = time.time()
            for _ in range(3):  # compile, cudagraph warm-up and recording
                fn(x)
            torch.cuda.synchronize()
            rec["compile_s"] = round(time.time() - t0, 1)
            rec.update(time_calls(fn, x, iters, 10))
        else:
            rec.update(time_calls(model, x, iters, 10))
    rec["throughput"] = batch * 1000.0 / rec["median_ms"]
    results.append(rec)
    print(json.dumps(rec), flush=True)
    del model
    if mode == "compile":
        torch._dynamo.reset()
    torch.cuda.empty_cache()


def measure(args):
    import torch

    results = []
    meta = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "gpu": torch.cuda.get_device_name(0)}
    print(json.dumps(meta), flush=True)
    for case in args.cases:
        name, batches = case.split(":")
        for b in [int(v) for v in batches.split(",")]:
            for mode in args.modes.split(","):
                try:
                    run_case(name, b, mode, results)
                except Exception as e:  # record and go on: one failing case must not lose the others
                    results.append({"model": name, "batch": b, "mode": mode, "error": f"{type(e).__name__}: {e}"[:300]})
                    print("FAILED", name, b, mode, e, flush=True)
                    torch.cuda.empty_cache()
                with open(args.out, "w") as f:
                    json.dump({"meta": meta, "results": results}, f, indent=1)


def fmt(rec):
    if not rec:
        return "—"
    if "error" in rec:
        return "failed"
    return f"{rec['median_ms']:.3f} ms · {rec['throughput']:,.0f}/s"


def table(args):
    tr = json.load(open(args.torch)) if args.torch and os.path.exists(args.torch) else {"meta": {}, "results": []}
    meta = json.load(open(args.meta)) if args.meta and os.path.exists(args.meta) else {}
    by = {(r["model"], r["batch"], r["mode"]): r for r in tr["results"]}
    keys = sorted({(r["model"], r["batch"]) for r in tr["results"]}, key=lambda k: (DEFAULT_CASES_ORDER(k[0]), k[1]))
    out = ["<!-- BEGIN gpu (bench/gpu_vs_torch.sh; do not edit by hand) -->", "## GPU: ferry vs PyTorch (FP16)", ""]
    tm = tr.get("meta", {})
    out.append(f"GPU: {meta.get('gpu', tm.get('gpu', '?'))}, driver {meta.get('driver', '?')}; torch {tm.get('torch', '?')} "
               f"(CUDA {tm.get('cuda', '?')}, cuDNN {tm.get('cudnn', '?')}); ferry {meta.get('ferry', '?')}; "
               f"measured {meta.get('date', '?')}.")
    out.append("")
    out.append("Median latency per batch (CUDA events, after warm-up) and throughput (items/s). eager = FP16 "
               "channels_last, inference_mode; compile = torch.compile(mode=\"reduce-overhead\"); ferry = "
               "`ferry bench --device cuda --precision fp16` with the flags under Commands (median_ms; GPU compute "
               "median in brackets when reported). Inputs stay on the GPU for torch. ferry/compile > 1 means ferry "
               "is faster.")
    out.append("")
    out.append("| model | batch | torch eager | torch.compile | ferry | ferry/compile |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for m, b in keys:
        e, c = by.get((m, b, "eager")), by.get((m, b, "compile"))
        fpath = os.path.join(args.ferry_dir or ".", f"ferry_{m}_b{b}.json")
        f = None
        if os.path.exists(fpath):
            try:
                j = json.load(open(fpath))
                f = {"median_ms": j["median_ms"], "throughput": b * 1000.0 / j["median_ms"],
                     "gpu_ms": (j.get("gpu_compute") or {}).get("median_ms")}
            except Exception:
                f = {"error": "unreadable"}
        ratio = "—"
        if f and c and "error" not in f and "error" not in c:
            ratio = f"{c['median_ms'] / f['median_ms']:.2f}×"
        fcell = fmt(f)
        if f and f.get("gpu_ms"):
            fcell += f" [{f['gpu_ms']:.3f}]"
        out.append(f"| {m} | {b} | {fmt(e)} | {fmt(c)} | {fcell} | {ratio} |")
    if not any(os.path.exists(os.path.join(args.ferry_dir or ".", f"ferry_{m}_b{b}.json")) for m, b in keys):
        out.append("")
        out.append(f"ferry: {meta.get('ferry_note', 'not measured in this run')}")
    comp = [r for r in tr["results"] if r.get("compile_s") is not None]
    if comp:
        out.append("")
        out.append("torch.compile time (first 3 calls) per case: " +
                   ", ".join(f"{r['model']} b{r['batch']} {r['compile_s']} s" for r in comp) + ".")
    out.append("")
    out.append("Commands (one `run` on the device machine):")
    out.append("```")
    for c in meta.get("commands", []):
        out.append(c)
    out.append("```")
    out.append("<!-- END gpu -->")
    print("\n".join(out))


def DEFAULT_CASES_ORDER(model):
    names = [c.split(":")[0] for c in DEFAULT_CASES]
    return names.index(model) if model in names else len(names)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="torch.json")
    p.add_argument("--cases", nargs="*", default=DEFAULT_CASES)
    p.add_argument("--modes", default="eager,compile")
    p.add_argument("--table", action="store_true")
    p.add_argument("--torch")
    p.add_argument("--ferry-dir")
    p.add_argument("--meta")
    args = p.parse_args()
    if args.table:
        table(args)
    else:
        measure(args)


if __name__ == "__main__":
    sys.exit(main())
