#!/usr/bin/env python3
"""`ferry perf` against a live `ferry serve` on 127.0.0.1 (HTTP and gRPC), tiny_add fixture.

    perf_cli_test.py FERRY FIXTURES_DIR

Checks: concurrency sweeps over both protocols produce one CSV row per level with sane numbers and a server-side
breakdown; the concurrency-1 overhead probe reports percentiles; request-rate mode (constant and Poisson) holds the
asked rate within reason; the HTML page holds an SVG plot; bad arguments exit 2 with one error line; an unreachable
server is an error, not a hang. Windows are short (200 ms) so the whole test takes well under a minute.
"""
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def start_server(ferry, repo):
    proc = subprocess.Popen([ferry, "serve", "--model-repository", repo, "--http-address", "127.0.0.1",
                             "--http-port", "0", "--grpc-port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    ports = {}
    deadline = time.time() + 60
    while time.time() < deadline and len(ports) < 2:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on (http|grpc)://[^:\s]+:(\d+)", line)
        if m:
            ports[m.group(1)] = int(m.group(2))
    if len(ports) < 2:
        proc.kill()
        sys.exit("server did not start")
    return proc, ports


def perf(ferry, *args, timeout=120):
    r = subprocess.run([ferry, "perf", *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def main():
    ferry, fixtures = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="ferry_perf_")
    proc = None
    try:
        os.makedirs(os.path.join(tmp, "repo", "tiny_add", "1"))
        shutil.copy(os.path.join(fixtures, "tiny_add.onnx"), os.path.join(tmp, "repo", "tiny_add", "1", "model.onnx"))
        proc, ports = start_server(ferry, os.path.join(tmp, "repo"))
        fast = ["--measurement-interval", "200", "--max-trials", "5"]
        for proto in ("http", "grpc"):
            out_csv = os.path.join(tmp, f"{proto}.csv")
            out_html = os.path.join(tmp, f"{proto}.html")
            rc, out, err = perf(ferry, "-m", "tiny_add", "-u", f"127.0.0.1:{ports[proto]}", "-i", proto,
                                "--concurrency-range", "1:2:1", "--overhead-samples", "50", "-f", out_csv,
                                "--html", out_html, *fast)
            check(rc == 0, f"{proto}: perf exit {rc} {err.strip()[:200]}")
            print(out)
            rows = list(csv.DictReader(open(out_csv))) if os.path.exists(out_csv) else []
            check([r["Concurrency"] for r in rows] == ["1", "2"], f"{proto}: CSV rows {[r.get('Concurrency') for r in rows]}")
            for r in rows:
                tput, p50, p99 = float(r["Inferences/Second"]), float(r["p50 latency"]), float(r["p99 latency"])
                check(tput > 10 and 0 < p50 <= p99, f"{proto} c={r['Concurrency']}: {tput:.0f} infer/s p50 {p50} p99 {p99}")
                check(float(r["Server Request"]) > 0 and float(r["Server Compute Infer"]) > 0,
                      f"{proto} c={r['Concurrency']}: server request {r['Server Request']} us, overhead {r['Server Overhead']} us")
            if rows:
                check(rows[0]["Overhead p50"] != "" and float(rows[0]["Overhead p50"]) >= 0,
                      f"{proto}: per-request overhead p50 {rows[0]['Overhead p50']} us")
            html = open(out_html).read() if os.path.exists(out_html) else ""
            check("<svg" in html and "<polyline" in html, f"{proto}: HTML plot")

        for extra in ([], ["--poisson"]):
            rc, out, err = perf(ferry, "-m", "tiny_add", "-u", f"127.0.0.1:{ports['http']}", "--request-rate-range",
                                "200", *extra, *fast)
            m = re.search(r"Throughput: ([\d.]+)", out)
            tput = float(m.group(1)) if m else 0
            check(rc == 0 and 100 < tput < 300, f"request rate 200 {' '.join(extra)}: {tput:.0f} infer/s (rc {rc})")

        for bad in (["-m", "tiny_add", "-u", "nohostport"], ["-m", "tiny_add", "-i", "udp"],
                    ["-m", "tiny_add", "--concurrency-range", "0:x"], ["-m", "tiny_add", "--poisson"],
                    ["-m", "tiny_add", "--percentile", "120"]):
            rc, out, err = perf(ferry, *bad)
            check(rc == 2 and err.count("\n") == 1 and "error" in err, f"bad args {bad[2:]} -> exit {rc}: {err.strip()}")
        rc, out, err = perf(ferry, "-m", "nope", "-u", f"127.0.0.1:{ports['http']}", *fast)
        check(rc != 0 and "error" in err, f"unknown model -> exit {rc}: {err.strip()[:120]}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        rc, out, err = perf(ferry, "-m", "tiny_add", "-u", f"127.0.0.1:{ports['http']}", "--timeout-ms", "2000",
                            *fast, timeout=60)
        check(rc != 0 and "error" in err, f"server gone -> exit {rc}: {err.strip()[:120]}")
        proc = None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED: %d" % len(FAILS) if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
