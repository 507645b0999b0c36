#!/usr/bin/python3
"""serve_batching.py — dynamic batching throughput of `ferry serve` vs `ferry bench` (issue 5, acceptance 3).

Builds a temporary model repository holding MODEL with max_batch_size, dynamic_batching {preferred_batch_size P,
max_queue_delay_microseconds D}, one instance with T intra-op threads; starts `ferry serve` on loopback; then
alternates, for --rounds rounds,

    ferry bench MODEL --batch P --threads T --duration S --json          (images/s = throughput_qps)
    ferry perf -m NAME -u 127.0.0.1:PORT -i PROTO --concurrency-range C:C  (images/s = infer/sec x 1 image/request)

(bench first in odd rounds, serve first in even ones) and reports ratio = median serve / median bench images/s
(also best/best). The server stays up between rounds, idle while `ferry bench` runs. With --update-docs the table
replaces the block <!-- BEGIN serve-batching --> ... <!-- END serve-batching --> of that file.

    /usr/bin/python3 bench/serve_batching.py --ferry build-SERVE/ferry --batch 8 --threads 2 --protocol grpc \
        --rounds 3 --update-docs docs/benchmarks.md

Several configurations at once: --batch 4,8 --threads 1,2 --protocol grpc,http (every combination, each with its
own server and the same T for both sides). Exit status 0 unless a command failed.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_repo(root, model, name, batch, threads, delay_us, max_batch):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "1"), exist_ok=True)
    dst = os.path.join(d, "1", "model.onnx")
    if not os.path.exists(dst):
        try:
            os.link(os.path.abspath(model), dst)
        except OSError:
            shutil.copyfile(model, dst)
    with open(os.path.join(d, "config.pbtxt"), "w") as f:
        f.write(f'''name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch}
dynamic_batching {{
  preferred_batch_size: [ {batch} ]
  max_queue_delay_microseconds: {delay_us}
}}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "threads" value {{ string_value: "{threads}" }} }}
''')


class Server:
    def __init__(self, ferry, repo, extra, env):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="ferry_serve_", suffix=".log", delete=False)
        cmd = [ferry, "serve", "--model-repository", repo, "--http-address", "127.0.0.1", "--http-port", "0",
               "--grpc-port", "0"] + extra
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.http = self.grpc = None
        deadline = time.time() + 120
        while time.time() < deadline and (self.http is None or self.grpc is None):
            line = self.p.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http|grpc)://[^:]+:(\d+)", line)
            if m:
                setattr(self, m.group(1), int(m.group(2)))
        if self.http is None or self.grpc is None:
            self.stop()
            self.log.seek(0)
            raise RuntimeError("ferry serve did not start: " + self.log.read()[-2000:])
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError("ferry serve never became ready")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def run_bench(ferry, model, batch, threads, seconds, env):
    cmd = [ferry, "bench", model, "--batch", str(batch), "--threads", str(threads), "--warmup", "3",
           "--duration", str(seconds), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(" ".join(cmd) + " failed: " + out.stderr[-1000:])
    j = json.loads(out.stdout.strip().splitlines()[-1])
    return j["throughput_qps"], j["median_ms"], " ".join(cmd)


def run_perf(ferry, name, proto, port, conc, interval_ms, trials):
    cmd = [ferry, "perf", "-m", name, "-u", f"127.0.0.1:{port}", "-i", proto, "--concurrency-range",
           f"{conc}:{conc}", "-p", str(interval_ms), "--max-trials", str(trials)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(" ".join(cmd) + " failed: " + (out.stderr + out.stdout)[-1000:])
    m = re.search(r"Throughput: ([0-9.]+) infer/sec(, errors: (\d+))?", out.stdout)
    if not m:
        raise RuntimeError("cannot parse ferry perf output:\n" + out.stdout)
    server = re.search(r"Server \(avg usec per request\): (.*)", out.stdout)
    return float(m.group(1)), int(m.group(3) or 0), server.group(1) if server else "", " ".join(cmd)


def batch_histogram(port, name):
    """Executions and inferences from the statistics extension (average batch size = inferences / executions)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}/stats", timeout=10) as r:
        s = json.loads(r.read())["model_stats"][0]
    return s.get("inference_count", 0), s.get("execution_count", 0)


def measure(a, batch, threads, proto, repo_root):
    name = f"mb_p{batch}_t{threads}"
    repo_root = os.path.join(repo_root, f"{name}_{proto}")  # one repository (and server) per configuration
    make_repo(repo_root, a.model, name, batch, threads, a.max_queue_delay_us, max(batch, a.max_batch_size))
    env = dict(os.environ)
    srv_env = dict(env)
    for kv in a.serve_env:
        k, _, v = kv.partition("=")
        srv_env[k] = v
    extra = list(a.serve_arg)
    benches, serves, rows = [], [], []
    srv = Server(a.ferry, repo_root, extra, srv_env)
    try:
        port = srv.grpc if proto == "grpc" else srv.http
        # Warm the server (first batches build primitives) before timing anything.
        run_perf(a.ferry, name, proto, port, a.concurrency, 1000, 3)
        for r in range(a.rounds):
            order = ["bench", "serve"] if r % 2 == 0 else ["serve", "bench"]
            for what in order:
                if what == "bench":
                    qps, med, bcmd = run_bench(a.ferry, a.model, batch, threads, a.bench_seconds, env)
                    benches.append(qps)
                    log(f"  round {r + 1} bench  P={batch} T={threads}: {qps:.1f} images/s (median {med:.2f} ms/batch)")
                else:
                    i0, e0 = batch_histogram(srv.http, name)
                    qps, errors, server, pcmd = run_perf(a.ferry, name, proto, port, a.concurrency,
                                                         a.interval_ms, a.max_trials)
                    i1, e1 = batch_histogram(srv.http, name)
                    avg_batch = (i1 - i0) / max(1, e1 - e0)
                    serves.append(qps)
                    rows.append((qps, errors, avg_batch, server))
                    log(f"  round {r + 1} serve  {proto} c={a.concurrency}: {qps:.1f} images/s, errors {errors}, "
                        f"avg batch {avg_batch:.2f}; {server}")
    finally:
        srv.stop()
    return {
        "batch": batch, "threads": threads, "protocol": proto, "bench": benches, "serve": serves,
        "ratio_median": statistics.median(serves) / statistics.median(benches),
        "ratio_best": max(serves) / max(benches),
        "errors": sum(r[1] for r in rows), "avg_batch": statistics.median(r[2] for r in rows),
        "bench_cmd": bcmd, "perf_cmd": pcmd, "serve_cmd": " ".join(srv.cmd),
    }


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def git_rev():
    try:
        r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return r.stdout.strip()
    except OSError:
        return "?"


def render(a, results, start_load, end_load, started, minutes):
    lines = ["<!-- BEGIN serve-batching -->",
             "## Dynamic batching: `ferry serve` vs `ferry bench` (bench/serve_batching.py)", "",
             f"Generated by `/usr/bin/python3 bench/serve_batching.py {' '.join(a.argv)}`; do not edit by hand.", "",
             f"- {started} UTC, commit `{git_rev()}`, {os.cpu_count()} cores, load average {start_load} at start, "
             f"{end_load} at end; {minutes:.1f} min",
             f"- model `{os.path.relpath(a.model, ROOT) if a.model.startswith(ROOT) else a.model}`; server: one instance, "
             f"max_batch_size = P, preferred_batch_size P, max_queue_delay {a.max_queue_delay_us} us, T intra-op "
             f"threads; client `ferry perf` at concurrency {a.concurrency} (one image per request) on the same machine",
             f"- {a.rounds} interleaved rounds (bench, serve, serve, bench, ...); bench: `--duration {a.bench_seconds}`, "
             f"perf: {a.interval_ms} ms windows, at most {a.max_trials}",
             "- images/s: median over rounds (best in parentheses); ratio = serve / bench medians (best/best in "
             "parentheses); avg batch = inferences / executions from the statistics extension", "",
             "| P | T | protocol | bench images/s | serve images/s | ratio | avg batch | failed |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['batch']} | {r['threads']} | {r['protocol']} | {statistics.median(r['bench']):.1f} "
                     f"({max(r['bench']):.1f}) | {statistics.median(r['serve']):.1f} ({max(r['serve']):.1f}) | "
                     f"**{r['ratio_median']:.2f}** ({r['ratio_best']:.2f}) | {r['avg_batch']:.2f} | {r['errors']} |")
    r0 = results[0]
    lines += ["", "Commands of the first configuration:", "", "```", r0["serve_cmd"], r0["bench_cmd"], r0["perf_cmd"],
              "```", "<!-- END serve-batching -->"]
    return "\n".join(lines) + "\n"


def update_docs(path, block):
    text = open(path).read() if os.path.exists(path) else ""
    b, e = "<!-- BEGIN serve-batching -->", "<!-- END serve-batching -->"
    if b in text and e in text:
        i, j = text.index(b), text.index(e) + len(e)
        text = text[:i] + block.rstrip("\n") + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ferry", default=os.path.join(ROOT, "build", "ferry"))
    p.add_argument("--model", default=os.path.join(ROOT, "build", "zoo", "mobilenet_v2.onnx"))
    p.add_argument("--batch", default="8", help="preferred batch size(s) P, comma-separated")
    p.add_argument("--threads", default="2", help="intra-op thread count(s) T, comma-separated")
    p.add_argument("--protocol", default="grpc", help="grpc, http or grpc,http")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-batch-size", type=int, default=0, help="max_batch_size (default: P)")
    p.add_argument("--max-queue-delay-us", type=int, default=100000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bench-seconds", type=float, default=5)
    p.add_argument("--interval-ms", type=int, default=5000)
    p.add_argument("--max-trials", type=int, default=4)
    p.add_argument("--serve-env", action="append", default=[], help="KEY=VALUE for the server only")
    p.add_argument("--serve-arg", action="append", default=[], help="extra `ferry serve` argument")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--update-docs", help="replace the serve-batching block of this markdown file")
    a = p.parse_args()
    a.argv = [x for x in sys.argv[1:]]
    a.ferry = os.path.abspath(a.ferry)
    a.model = os.path.abspath(a.model)
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    start_load, t0 = loadavg(), time.time()
    results = []
    repo_root = tempfile.mkdtemp(prefix="ferry_serve_batching_")
    try:
        for batch in [int(x) for x in a.batch.split(",")]:
            for threads in [int(x) for x in a.threads.split(",")]:
                for proto in a.protocol.split(","):
                    log(f"P={batch} T={threads} {proto}:")
                    results.append(measure(a, batch, threads, proto, repo_root))
                    r = results[-1]
                    log(f"  => ratio {r['ratio_median']:.3f} (best/best {r['ratio_best']:.3f})")
    finally:
        shutil.rmtree(repo_root, ignore_errors=True)
    block = render(a, results, start_load, loadavg(), started, (time.time() - t0) / 60)
    print(block)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.update_docs:
        update_docs(a.update_docs, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
