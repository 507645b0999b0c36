#!/usr/bin/python3
"""Side-by-side latency of ferry and ONNX Runtime on the benchmark zoo; writes docs/benchmarks.md + .json.

Each configuration (model, batch, threads) is run as `ferry bench --json` and `node ort_bench.js`, interleaved
(round 1: ferry, ORT; round 2: ORT, ferry; ...) with the same threads, batch, warm-up and iteration count, so slow
drifts of the machine's load hit both engines alike. Per configuration the report takes the median of the round
medians and the minimum of the round minima. A configuration that fails in one engine gets a row saying so.

Usage (see bench/compare_ort.sh for the defaults used for docs/benchmarks.md):
  /usr/bin/python3 bench/compare_ort.py --ferry build-BENCH/ferry [--models resnet50,bert_tiny_enc] [--threads 1,2]
      [--rounds 3] [--extra resnet50:8] [--budget-ms 1000] [--out docs/benchmarks.md] [--json-out docs/benchmarks.json]
stdlib only.
"""
import argparse
import datetime
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time

ZOO = ["resnet50", "mobilenet_v2", "resnet18", "efficientnet_b0", "vit_b_16", "bert_tiny_enc", "yolo_like"]
# Rough ORT batch-1, 1-thread medians (build/peers/README.md), only used to size the iteration counts.
EST_MS = {"resnet50": 46, "mobilenet_v2": 6, "resnet18": 21, "efficientnet_b0": 10, "vit_b_16": 230,
          "bert_tiny_enc": 7, "yolo_like": 100}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ferry", default="build/ferry", help="ferry binary")
    p.add_argument("--peers", default="build/peers", help="folder with ort_bench.js")
    p.add_argument("--zoo", default="build/zoo", help="folder with MODEL.onnx")
    p.add_argument("--node", default="node", help="node.js binary")
    p.add_argument("--models", default=",".join(ZOO), help="comma-separated model names (default: the whole zoo)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--batch", type=int, default=1, help="batch of every model")
    p.add_argument("--extra", default="resnet50:8", help="extra model:batch configurations, comma-separated ('' = none)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per configuration")
    p.add_argument("--warmup", type=int, default=2, help="warm-up runs per invocation")
    p.add_argument("--iters", type=int, default=0, help="timed runs per invocation (0: odd count filling --budget-ms)")
    p.add_argument("--budget-ms", type=float, default=1000, help="target timed-loop length per invocation")
    p.add_argument("--timeout", type=float, default=300, help="seconds before an invocation counts as failed")
    p.add_argument("--max-minutes", type=float, default=12,
                   help="start no new invocation after this long (round 1 always completes)")
    p.add_argument("--out", default="docs/benchmarks.md", help="markdown report ('' = none)")
    p.add_argument("--json-out", default="docs/benchmarks.json", help="raw results as JSON ('' = none)")
    p.add_argument("--render", metavar="JSON", default="",
                   help="re-write --out from a previous --json-out file without running anything")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.warmup < 0 or a.iters < 0 or a.batch < 1:
        p.error("--rounds, --batch must be >= 1 and --warmup, --iters >= 0")
    return a


def configurations(a):
    models = [m for m in a.models.split(",") if m]
    threads = [int(t) for t in a.threads.split(",") if t]
    configs = [(m, a.batch, t) for m in models for t in threads]
    for item in [x for x in a.extra.split(",") if x]:
        m, _, b = item.partition(":")
        if m in models:
            configs += [(m, int(b or 1), t) for t in threads]
    return configs


def odd_count(a, est_ms, cap):
    n = int(max(5, min(cap, round(a.budget_ms / max(est_ms, 1e-3)))))
    return n if n % 2 else n + 1  # odd: the median is one sample in both engines' percentile rules


def iterations_for(a, r):
    """Round 1 sizes from a rough ORT estimate (at most 9 runs, as ferry may be much slower); later rounds from
    the slower engine's round-1 median, so each invocation's timed loop lasts about --budget-ms."""
    if a.iters:
        return a.iters
    meds = [r["rounds"][eng][0]["median_ms"] for eng in ("ferry", "ort") if r["rounds"][eng]]
    if meds:
        return odd_count(a, max(meds), 41)
    return odd_count(a, EST_MS.get(r["model"], 50) * r["batch"] / max(1, r["threads"]) ** 0.8, 9)


def run_json(cmd, timeout):
    """Runs cmd; returns (dict, None) from its last JSON stdout line, or (None, short error)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    except OSError as e:
        return None, str(e)
    if p.returncode != 0:
        lines = [l for l in (p.stderr or p.stdout).splitlines() if l.strip()]
        msg = lines[0] if lines else ""
        for l in lines:  # prefer the line that says what went wrong
            if "rror" in l:
                msg = l
                break
        return None, f"exit {p.returncode}: {msg[:200]}"
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line), None
            except ValueError:
                break
    return None, "no JSON summary in the output"


def commands(a, model, batch, threads, iters):
    path = os.path.join(a.zoo, model + ".onnx")
    ferry = [a.ferry, "bench", path, "--threads", str(threads), "--batch", str(batch), "--warmup", str(a.warmup),
             "--iterations", str(iters), "--json"]
    ort = [a.node, os.path.join(a.peers, "ort_bench.js"), path, "--threads", str(threads), "--iters", str(iters),
           "--warmup", str(a.warmup), "--batch", str(batch)]
    return {"ferry": ferry, "ort": ort}


def sh(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
    return out


def machine_info(ferry):
    model = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    return {"cpu": model or "unknown", "cores": os.cpu_count(), "loadavg_start": os.getloadavg(),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "ferry_commit": sh("git rev-parse --short HEAD") + (" (dirty tree)" if sh("git status --porcelain -uno") else ""),
            "ferry_binary": ferry, "ferry_built": datetime.datetime.fromtimestamp(os.path.getmtime(ferry)).astimezone()
            .strftime("%Y-%m-%d %H:%M %Z") if os.path.exists(ferry) else "missing"}


def summarize(rounds):
    ok = [r for r in rounds if r]
    if not ok:
        return None
    meds = [r["median_ms"] for r in ok]
    return {"median_ms": statistics.median(meds), "min_ms": min(r["min_ms"] for r in ok),
            "load_ms": statistics.median(r["load_ms"] for r in ok), "rounds": len(ok),
            "spread": (max(meds) - min(meds)) / statistics.median(meds) if len(meds) > 1 else 0.0,
            "version": ok[0].get("version", "")}


def run_all(a, configs):
    results = []
    for (m, b, t) in configs:
        results.append({"model": m, "batch": b, "threads": t, "iterations": [], "commands": None,
                        "rounds": {"ferry": [], "ort": []}, "error": {"ferry": None, "ort": None}})
    t_start = time.time()
    stopped = False
    for rnd in range(a.rounds):
        order = ["ferry", "ort"] if rnd % 2 == 0 else ["ort", "ferry"]
        for r in results:
            if rnd > 0 and time.time() - t_start > 60 * a.max_minutes:
                print(f"compare_ort: --max-minutes {a.max_minutes:g} reached in round {rnd + 1}; the remaining "
                      "configurations keep the rounds they have", file=sys.stderr)
                stopped = True
                break
            n = iterations_for(a, r)
            r["iterations"].append(n)
            r["commands"] = commands(a, r["model"], r["batch"], r["threads"], n)
            if not os.path.exists(os.path.join(a.zoo, r["model"] + ".onnx")):
                for eng in order:
                    r["error"][eng] = "model file missing"
                continue
            for eng in order:
                if r["error"][eng]:
                    continue  # a failed engine is not retried
                t0 = time.time()
                res, err = run_json(r["commands"][eng], a.timeout)
                if err:
                    r["error"][eng] = err
                else:
                    r["rounds"][eng].append(res)
                med = f"{res['median_ms']:.2f} ms" if res else f"FAILED ({err})"
                print(f"[{time.time() - t_start:6.0f} s] round {rnd + 1}/{a.rounds} {r['model']} b{r['batch']} "
                      f"t{r['threads']} {eng}: {med} ({time.time() - t0:.1f} s)", file=sys.stderr, flush=True)
        if stopped:
            break
    for r in results:
        r["summary"] = {eng: summarize(r["rounds"][eng]) for eng in ("ferry", "ort")}
        f, o = r["summary"]["ferry"], r["summary"]["ort"]
        r["ratio"] = f["median_ms"] / o["median_ms"] if f and o and o["median_ms"] > 0 else None
    return results, time.time() - t_start


def cell(s, err):
    if s is None:
        return f"failed: {err or 'no result'}".replace("|", "/")
    return f"{s['median_ms']:.2f} / {s['min_ms']:.2f}"


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def markdown(a, info, results, elapsed, argv):
    ratios = [r["ratio"] for r in results if r["ratio"]]
    gm = geomean(ratios)
    ort_version = next((r["summary"]["ort"]["version"] for r in results if r["summary"]["ort"]), "?")
    L = ["# Benchmarks: ferry vs ONNX Runtime", "",
         "Generated by `bench/compare_ort.sh` (bench/compare_ort.py); do not edit by hand, re-run the script.", "",
         "## Setup", "",
         f"- machine: {info['cpu']}, {info['cores']} cores; load average at start "
         f"{info['loadavg_start'][0]:.1f}, at end {info['loadavg_end'][0]:.1f}",
         f"- date: {info['date']}; ferry commit `{info['ferry_commit']}` (binary `{info.get('ferry_binary', '?')}` built "
         f"{info.get('ferry_built', '?')}); ONNX Runtime {ort_version} "
         "(onnxruntime-node, CPU EP, graph optimization 'all')",
         f"- {a.rounds} interleaved rounds per configuration (ferry and ORT alternate who goes first), warm-up "
         f"{a.warmup}, the same odd iteration count for both engines; seeded random inputs; whole run took "
         f"{elapsed / 60:.1f} min",
         "- cells: median of the per-round medians / minimum over all rounds, in ms; ratio = ferry median / ORT "
         "median (< 1: ferry is faster); load = session creation, median over rounds; spread = (max - min) / "
         "median of the round medians, the larger of the two engines; runs x rounds = timed runs per invocation "
         "(round 1 is sized from a rough estimate, later rounds from the slower engine's round-1 median) x rounds",
         "",
         "Command:", "", "```", "bench/compare_ort.sh " + " ".join(shlex.quote(x) for x in dedupe_options(argv)), "```", "",
         "Per invocation (example, first configuration):", "", "```"]
    if results:
        L += [" ".join(shlex.quote(x) for x in results[0]["commands"][eng]) for eng in ("ferry", "ort")]
    L += ["```", "", "## Results", "",
          "| model | batch | threads | runs x rounds | ferry median/min ms | ORT median/min ms | ratio ferry/ORT | "
          "load ms ferry/ORT | spread |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        f, o = r["summary"]["ferry"], r["summary"]["ort"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "n/a"
        load = (f"{f['load_ms']:.0f}" if f else "-") + " / " + (f"{o['load_ms']:.0f}" if o else "-")
        spread = max([s["spread"] for s in (f, o) if s] or [0])
        its = sorted(set(r["iterations"]))
        runs = "/".join(str(i) for i in its) + f" x {len(r['iterations'])}"
        L.append(f"| {r['model']} | {r['batch']} | {r['threads']} | {runs} | "
                 f"{cell(f, r['error']['ferry'])} | {cell(o, r['error']['ort'])} | {ratio} | {load} | "
                 f"{100 * spread:.0f}% |")
    L += ["", f"**Geometric mean of ferry/ORT ratios: {gm:.2f}** over {len(ratios)} configurations "
          "(< 1 means ferry is faster)." if gm else "**No configuration ran in both engines.**", ""]
    L += ["## Benchmarking one model with `ferry bench`", "",
          "```",
          "ferry bench MODEL [--batch N] [--shapes name:1x3x224x224,...] [--threads N] [--warmup N]",
          "            [--iterations N | --duration S] [--json] [--export-profile F.json|F.csv]",
          "            [--export-trace F.json] [--export-html F.html] [--profile-iterations N] [--top N] [--seed N]",
          "```", "",
          "- Prints session creation (load) time, first-run time, min/mean/median/p90/p95/p99/max latency, "
          "throughput (batch x 1000 / mean ms), standard deviation and coefficient of variation, with a WARNING "
          "line above 5%.",
          "- Timed runs are measured without any observer. Afterwards a separate profiling pass (up to 10 runs or "
          "~2 s; `--profile-iterations`) attaches `Session::set_node_observer` and prints the top layers by total "
          "time (% of node time, count) and a per-op-type summary.",
          "- `--json` prints one object: `median_ms mean_ms min_ms max_ms p90_ms p95_ms p99_ms stddev_ms cov "
          "throughput_qps load_ms first_run_ms threads batch iterations warmup wall_s inputs streams` (on a device "
          "also `gpu_compute h2d d2h enqueue` percentiles).",
          "- `--streams N` runs N sessions at once, one thread each (trtexec's `--streams`): `--iterations` counts "
          "per stream, latencies are pooled, throughput is batch x runs / wall time; on the CPU `--threads` "
          "defaults to cores / N.",
          "- `--export-profile` writes the per-layer table (JSON, or CSV when the name ends in .csv); "
          "`--export-trace` writes a Chrome trace (one complete \"X\" event per node per profiled run, plus one "
          "per run) for chrome://tracing or ui.perfetto.dev; `--export-html` writes a self-contained page with an "
          "SVG latency histogram and the percentile table.",
          "- Inputs are seeded random; `--batch` sets the first dimension of every input whose first dimension is "
          "symbolic. Without `--iterations`/`--duration` the loop runs 3 s and at least 10 runs; progress dots go "
          "to stderr (none with `--json`). Bad arguments exit 2 with one error line.", ""]
    L += ["## Noise", "",
          "This machine is shared (2 vCPUs, several engineers building and testing at once; load average above). "
          "Single numbers can be off by tens of percent; the spread column shows how far the round medians of one "
          "configuration disagreed. Interleaving makes the ratio more trustworthy than either absolute number. "
          "Compare only numbers taken side by side in one run; re-run on an idle machine for release numbers.", "",
          "Per-layer time of any model: `ferry bench MODEL --threads 1 --export-profile p.csv --export-trace t.json` "
          "(open t.json in chrome://tracing or ui.perfetto.dev).", ""]
    return "\n".join(L) + "\n"


def dedupe_options(argv):
    """argv without earlier copies of a repeated `--opt value` (compare_ort.sh passes its defaults before "$@")."""
    pairs, i = [], 0
    while i < len(argv):
        if argv[i].startswith("--") and "=" not in argv[i] and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            pairs.append((argv[i], argv[i + 1]))
            i += 2
        else:
            pairs.append((argv[i], None))
            i += 1
    last = {k: j for j, (k, v) in enumerate(pairs) if v is not None}
    out = []
    for j, (k, v) in enumerate(pairs):
        if v is None:
            out.append(k)
        elif last[k] == j:
            out += [k, v]
    return out


def write_report(path, md):
    """Writes the comparison to `path`, keeping the <!-- BEGIN x --> ... <!-- END x --> blocks other scripts
    (gpu_vs_torch.sh, int8_speed.py, digits_accuracy.py, serve_batching.py, soak.sh) own in an existing file."""
    import re
    blocks = []
    if os.path.exists(path):
        with open(path) as f:
            blocks = re.findall(r"<!-- BEGIN .*?<!-- END [^>]*-->", f.read(), re.S)
    with open(path, "w") as f:
        f.write(md.rstrip("\n") + "\n")
        for b in blocks:
            f.write("\n" + b + "\n")


def main(argv):
    a = parse_args(argv)
    if a.render:
        with open(a.render) as f:
            data = json.load(f)
        run_args = parse_args(data["argv"])
        md = markdown(run_args, data["machine"], data["results"], data["elapsed_s"], data["argv"])
        if a.out:
            write_report(a.out, md)
        else:
            print(md)
        return 0
    configs = configurations(a)
    info = machine_info(a.ferry)
    results, elapsed = run_all(a, configs)
    info["loadavg_end"] = os.getloadavg()
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"machine": info, "elapsed_s": elapsed, "argv": argv, "results": results}, f, indent=1)
            f.write("\n")
    md = markdown(a, info, results, elapsed, argv)
    if a.out:
        write_report(a.out, md)
    else:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
