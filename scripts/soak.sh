#!/bin/bash
# soak.sh — `ferry serve` under saturation for a while: RSS growth, total and failed requests (issue 5, acceptance 6).
#
#   scripts/soak.sh [--ferry build/ferry] [--model build/zoo/mobilenet_v2.onnx] [--duration 600] [--warmup 60]
#                   [--sample-every 5] [--concurrency 16] [--protocol grpc|http] [--threads 2] [--batch 8]
#                   [--json OUT.json] [--update-docs docs/benchmarks.md] [--max-growth-pct 2] [--max-failed 0]
#                   [--max-client-errors-pct 0]
#
# Builds a temporary model repository (the model with max_batch_size = batch, dynamic batching preferred batch,
# one instance with `threads` intra-op threads), starts `ferry serve` on loopback, runs
# `ferry perf --concurrency-range C:C` for warm-up + duration seconds, samples the server's VmRSS
# (/proc/PID/status) every --sample-every seconds, and reports
#   rss_growth_pct = (last sample - first sample after the warm-up) / first sample after the warm-up * 100,
# total/failed requests (the server's statistics extension, and the client's error count), as one JSON object on
# stdout (and --json), optionally as the block <!-- BEGIN serve-soak --> ... <!-- END serve-soak --> of a markdown
# file. Exit status 1 when the server's failed requests exceed --max-failed, the client's errors (requests that never
# reached the server's statistics, e.g. transport errors) exceed --max-client-errors-pct of the requests, or growth
# exceeds --max-growth-pct, 2 on setup
# errors. The server is stopped with SIGTERM at the end and must exit 0.
#
# The 10-minute acceptance run (quiet machine):  scripts/soak.sh --ferry build/ferry --update-docs docs/benchmarks.md
# CI (ctest -L serve, test serve_soak) runs ~20 s on a tiny model.
set -euo pipefail
export FERRY_ROOT="${FERRY_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
exec /usr/bin/python3 - "$@" <<'PYEOF'
import argparse, datetime, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.environ.get("FERRY_ROOT", os.getcwd())

p = argparse.ArgumentParser(prog="soak.sh")
p.add_argument("--ferry", default=os.path.join(ROOT, "build", "ferry"))
p.add_argument("--model", default=os.path.join(ROOT, "build", "zoo", "mobilenet_v2.onnx"))
p.add_argument("--duration", type=float, default=600, help="seconds measured after the warm-up (600)")
p.add_argument("--warmup", type=float, default=60, help="seconds of load before the RSS baseline (60)")
p.add_argument("--sample-every", type=float, default=5)
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--max-queue-delay-us", type=int, default=20000)
p.add_argument("--json")
p.add_argument("--update-docs")
p.add_argument("--max-growth-pct", type=float, default=2.0)
p.add_argument("--max-failed", type=int, default=0, help="server-side failed requests allowed (0)")
p.add_argument("--max-client-errors-pct", type=float, default=0.0,
               help="client-side errors (transport errors that never reached the server) allowed, %% of requests (0)")
p.add_argument("--serve-env", action="append", default=[], help="KEY=VALUE for the server only")
a = p.parse_args()
a.ferry, a.model = os.path.abspath(a.ferry), os.path.abspath(a.model)


def log(*x):
    print(*x, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stats(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}/stats", timeout=10) as r:
        s = json.loads(r.read())["model_stats"]
    ok = sum(m["inference_stats"]["success"]["count"] for m in s)
    fail = sum(m["inference_stats"]["fail"]["count"] for m in s)
    return ok, fail


name = "soak_model"
tmp = tempfile.mkdtemp(prefix="ferry_soak_")
srv = None
try:
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "1"))
    shutil.copyfile(a.model, os.path.join(d, "1", "model.onnx"))
    with open(os.path.join(d, "config.pbtxt"), "w") as f:
        f.write(f'''name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {a.batch}
dynamic_batching {{
  preferred_batch_size: [ {a.batch} ]
  max_queue_delay_microseconds: {a.max_queue_delay_us}
}}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "threads" value {{ string_value: "{a.threads}" }} }}
''')
    env = dict(os.environ)
    for kv in a.serve_env:
        k, _, v = kv.partition("=")
        env[k] = v
    serve_cmd = [a.ferry, "serve", "--model-repository", tmp, "--http-address", "127.0.0.1", "--http-port", "0",
                 "--grpc-port", "0"]
    serr = open(os.path.join(tmp, "serve.log"), "w+")
    srv = subprocess.Popen(serve_cmd, stdout=subprocess.PIPE, stderr=serr, text=True, env=env)
    ports = {}
    t_end = time.time() + 120
    while time.time() < t_end and len(ports) < 2:
        line = srv.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on (http|grpc)://[^:]+:(\d+)", line)
        if m:
            ports[m.group(1)] = int(m.group(2))
    if len(ports) < 2:
        serr.seek(0)
        log("soak: ferry serve did not start:", serr.read()[-2000:])
        sys.exit(2)
    threading.Thread(target=lambda: srv.stdout.read(), daemon=True).start()  # drain stdout
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except Exception:
            time.sleep(0.1)
    total_s = a.warmup + a.duration
    # Three windows that together cover warm-up + duration (perf stops after --max-trials 3 windows).
    window_ms = max(10, int(total_s * 1000 / 3))
    port = ports[a.protocol]
    perf_cmd = [a.ferry, "perf", "-m", name, "-u", f"127.0.0.1:{port}", "-i", a.protocol, "--concurrency-range",
                f"{a.concurrency}:{a.concurrency}", "-p", str(window_ms), "--max-trials", "3",
                "--timeout-ms", "60000"]
    log("soak:", " ".join(serve_cmd))
    log("soak:", " ".join(perf_cmd))
    ok0, fail0 = stats(ports["http"], name)
    rss_start = rss_kib(srv.pid)
    perf = subprocess.Popen(perf_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    samples = []  # (seconds since load start, VmRSS KiB)
    while perf.poll() is None and srv.poll() is None:
        time.sleep(a.sample_every)
        if srv.poll() is not None:
            break
        samples.append((round(time.time() - t0, 1), rss_kib(srv.pid)))
    perf_out = perf.communicate()[0]
    crashed = srv.poll() is not None
    ok1, fail1 = (0, 0) if crashed else stats(ports["http"], name)
    srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(60)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = srv.wait()
    after = [s for s in samples if s[0] >= a.warmup]
    if not after:
        after = samples[-1:]
    base = after[0][1] if after else 0
    last = after[-1][1] if after else 0
    m = re.search(r"errors: (\d+)", perf_out)
    client_errors = int(m.group(1)) if m else 0
    tput = re.search(r"Throughput: ([0-9.]+) infer/sec", perf_out)
    res = {
        "model": os.path.relpath(a.model, ROOT), "protocol": a.protocol, "concurrency": a.concurrency,
        "threads": a.threads, "batch": a.batch, "warmup_s": a.warmup, "duration_s": a.duration,
        "load_s": round(time.time() - t0, 1),
        "rss_start_kib": rss_start, "rss_baseline_kib": base, "rss_last_kib": last,
        "rss_max_kib": max([s[1] for s in after], default=0),
        "rss_growth_pct": round((last - base) * 100.0 / base, 3) if base else None,
        "requests": ok1 - ok0 + fail1 - fail0, "failed_requests": fail1 - fail0, "client_errors": client_errors,
        "throughput": float(tput.group(1)) if tput else None,
        "perf_exit": perf.returncode, "server_crashed": crashed, "server_exit": rc,
        "samples": samples,
    }
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.update_docs:
        started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
        block = "\n".join([
            "<!-- BEGIN serve-soak -->",
            "## Soak: `ferry serve` at saturation (scripts/soak.sh)", "",
            f"Generated by `scripts/soak.sh {' '.join(sys.argv[1:])}`; do not edit by hand.", "",
            f"- {started} UTC, {os.cpu_count()} cores, load average {open('/proc/loadavg').read().split()[0]} at end",
            f"- model `{res['model']}`, batch {a.batch} (dynamic batching), {a.threads} threads, `ferry perf` "
            f"{a.protocol} at concurrency {a.concurrency}; {a.warmup:g} s warm-up, then {a.duration:g} s measured; "
            f"VmRSS every {a.sample_every:g} s", "",
            "| requests | failed (server) | client errors | throughput infer/s | RSS after warm-up MiB | RSS last MiB | RSS max MiB | growth |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {res['requests']} | {res['failed_requests']} | {client_errors} | {res['throughput']} | "
            f"{base / 1024:.1f} | {last / 1024:.1f} | {res['rss_max_kib'] / 1024:.1f} | **{res['rss_growth_pct']}%** |",
            "<!-- END serve-soak -->"]) + "\n"
        text = open(a.update_docs).read() if os.path.exists(a.update_docs) else ""
        b, e = "<!-- BEGIN serve-soak -->", "<!-- END serve-soak -->"
        if b in text and e in text:
            text = text[:text.index(b)] + block.rstrip("\n") + text[text.index(e) + len(e):]
        else:
            text = text.rstrip("\n") + "\n\n" + block
        with open(a.update_docs, "w") as f:
            f.write(text)
    bad = []
    if crashed:
        bad.append("the server died")
    if rc != 0 and not crashed:
        bad.append(f"the server exited {rc} after SIGTERM")
    if perf.returncode != 0:
        bad.append(f"ferry perf exited {perf.returncode}: {perf_out[-500:]}")
    if res["failed_requests"] > a.max_failed:
        bad.append(f"{res['failed_requests']} failed requests (server statistics), {client_errors} client errors")
    if client_errors > a.max_client_errors_pct / 100.0 * max(res["requests"], 1):
        bad.append(f"{client_errors} client errors (limit {a.max_client_errors_pct}% of {res['requests']} requests)")
    if client_errors:
        log("soak: client errors, ferry perf said:\n" + perf_out[-1500:])
    if res["rss_growth_pct"] is not None and res["rss_growth_pct"] > a.max_growth_pct:
        bad.append(f"RSS grew {res['rss_growth_pct']}% (limit {a.max_growth_pct}%)")
    if res["requests"] <= 0:
        bad.append("no requests completed")
    if bad:
        log("soak: FAILED:", "; ".join(bad))
        log("soak: ferry perf said:\n" + perf_out[-3000:])
        serr.seek(0)
        log("soak: ferry serve said:\n" + serr.read()[-3000:])
        sys.exit(1)
    log(f"soak: ok, {res['requests']} requests, RSS growth {res['rss_growth_pct']}%")
finally:
    if srv is not None and srv.poll() is None:
        srv.kill()
        srv.wait()
    shutil.rmtree(tmp, ignore_errors=True)
PYEOF
