#!/usr/bin/env python3
"""End-to-end test of `ferry serve` over HTTP on loopback (stdlib + numpy only).

usage: serve_e2e_test.py FERRY_BINARY FIXTURES_DIR [--garbage N]

Builds a model repository in a temp dir (tiny_add without config, demo_cnn with a Triton config.pbtxt and
dynamic batching, a model whose config has an unknown field), starts the server on an ephemeral port and covers
every endpoint, JSON and binary infer, then hostile input (malformed JSON, wrong dtype/shape/byte size,
oversized body, unknown model/version, slowloris, abrupt disconnects, random garbage) checking the server stays
up, keeps answering health and its RSS stays flat; ends with load/unload under load and SIGTERM draining.
Every loop is bounded in count and time.
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FERRY, FIXTURES = sys.argv[1], sys.argv[2]
GARBAGE = int(sys.argv[sys.argv.index("--garbage") + 1]) if "--garbage" in sys.argv else 10000
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def make_repo(root):
    os.makedirs(f"{root}/tiny_add/1")
    shutil.copy(f"{FIXTURES}/tiny_add.onnx", f"{root}/tiny_add/1/model.onnx")
    for v in (1, 2):
        os.makedirs(f"{root}/demo_cnn/{v}")
        shutil.copy(f"{FIXTURES}/demo_cnn.onnx", f"{root}/demo_cnn/{v}/model.onnx")
    with open(f"{root}/demo_cnn/config.pbtxt", "w") as f:
        f.write('''name: "demo_cnn"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "image" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 10 ] } ]
version_policy: { all { } }
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 500
                   default_queue_policy { max_queue_size: 64 } }
instance_group [ { count: 2 kind: KIND_CPU } ]
''')
    # slow_batch: requests wait up to 1.5 s in the batcher queue, so SIGTERM finds them in flight
    os.makedirs(f"{root}/slow_batch/1")
    shutil.copy(f"{FIXTURES}/demo_cnn.onnx", f"{root}/slow_batch/1/model.onnx")
    with open(f"{root}/slow_batch/config.pbtxt", "w") as f:
        f.write('max_batch_size: 16\ndynamic_batching { preferred_batch_size: 16 max_queue_delay_microseconds: 1500000 }\n')
    # gpu_add: a KIND_GPU group; without a GPU (CI) it must fail to load with a reason naming model, group, device
    os.makedirs(f"{root}/gpu_add/1")
    shutil.copy(f"{FIXTURES}/tiny_add.onnx", f"{root}/gpu_add/1/model.onnx")
    with open(f"{root}/gpu_add/config.pbtxt", "w") as f:
        f.write('instance_group [ { name: "gpu_group" count: 2 kind: KIND_GPU gpus: [ 0 ] } ]\n'
                'optimization { cuda { graphs: true } }\n'
                'parameters { key: "precision" value { string_value: "fp16" } }\n')
    os.makedirs(f"{root}/bad_config/1")
    shutil.copy(f"{FIXTURES}/tiny_add.onnx", f"{root}/bad_config/1/model.onnx")
    with open(f"{root}/bad_config/config.pbtxt", "w") as f:
        f.write('name: "bad_config"\nmax_batch_size: 0\nnot_a_triton_field: 3\n')


class Server:
    def __init__(self, repo, *extra):
        self.p = subprocess.Popen([FERRY, "serve", "--model-repository", repo, "--http-address", "127.0.0.1",
                                   "--http-port", "0", "--http-read-timeout-ms", "1500", "--max-body-bytes", "2000000",
                                   *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.port is None:
            self.p.kill()
            raise SystemExit("server did not start: " + self.p.stderr.read())

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def req(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = dict(r.getheaders())
        if conn is None:
            c.close()
        return r.status, data, hdrs

    def json(self, method, path, body=None):
        s, d, _ = self.req(method, path, body)
        try:
            return s, json.loads(d) if d else None
        except ValueError:
            return s, d

    def rss(self):
        with open(f"/proc/{self.p.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tiny_body(x):
    return {"id": "t1", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": x.tolist()}]}


def test_endpoints(s):
    check(s.req("GET", "/v2/health/live")[0] == 200, "live")
    check(s.req("GET", "/v2/health/ready")[0] == 200, "ready (non-strict)")
    st, md = s.json("GET", "/v2")
    check(st == 200 and md["name"] == "ferry" and "model_repository" in md["extensions"], f"server metadata {md}")
    st, md = s.json("GET", "/v2/models/tiny_add")
    check(st == 200 and md["inputs"][0] == {"name": "x", "datatype": "FP32", "shape": [2, 3]}, f"tiny_add metadata {md}")
    st, md = s.json("GET", "/v2/models/demo_cnn")
    check(st == 200 and md["versions"] == ["1", "2"] and md["inputs"][0]["shape"] == [-1, 3, 32, 32], f"demo_cnn metadata {md}")
    check(s.req("GET", "/v2/models/demo_cnn/versions/1")[0] == 200, "version metadata")
    check(s.req("GET", "/v2/models/demo_cnn/versions/7")[0] == 404, "unknown version -> 404")
    check(s.req("GET", "/v2/models/tiny_add/ready")[0] == 200, "model ready")
    check(s.req("GET", "/v2/models/demo_cnn/versions/2/ready")[0] == 200, "version ready")
    check(s.req("GET", "/v2/models/nope/ready")[0] == 400, "unknown model not ready")
    st, cfg = s.json("GET", "/v2/models/demo_cnn/config")
    check(st == 200 and cfg["max_batch_size"] == 8 and cfg["dynamic_batching"]["preferred_batch_size"] == [4, 8]
          and cfg["instance_group"][0]["count"] == 2, f"config {cfg}")
    st, cfg = s.json("GET", "/v2/models/tiny_add/config")
    check(st == 200 and cfg["max_batch_size"] == 0 and cfg["input"][0]["name"] == "x", f"auto-completed config {cfg}")
    # JSON infer
    x = np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5
    st, r = s.json("POST", "/v2/models/tiny_add/infer", tiny_body(x))
    check(st == 200 and r["id"] == "t1" and r["outputs"][0]["shape"] == [2, 3]
          and np.allclose(r["outputs"][0]["data"], (x + np.arange(6).reshape(2, 3)).ravel()), f"json infer {r}")
    # binary tensor extension, both ways
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": 24}}],
                       "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    st, data, hdrs = s.req("POST", "/v2/models/tiny_add/infer", head + x.tobytes(),
                           {"Inference-Header-Content-Length": str(len(head))})
    hl = int(hdrs.get("Inference-Header-Content-Length", "-1"))
    ok = st == 200 and hl > 0
    if ok:
        meta = json.loads(data[:hl])
        y = np.frombuffer(data[hl:], np.float32)
        ok = meta["outputs"][0]["parameters"]["binary_data_size"] == 24 and np.allclose(y, (x + np.arange(6).reshape(2, 3)).ravel())
    check(ok, f"binary infer {st} {data[:200]}")
    # demo_cnn batch of 3 and nested data
    img = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    st, r = s.json("POST", "/v2/models/demo_cnn/versions/1/infer",
                   {"inputs": [{"name": "image", "datatype": "FP32", "shape": [3, 3, 32, 32], "data": img.tolist()}]})
    check(st == 200 and r["model_version"] == "1" and r["outputs"][0]["shape"] == [3, 10]
          and np.allclose(np.array(r["outputs"][0]["data"]).reshape(3, 10).sum(1), 1, atol=1e-4), f"demo_cnn infer {str(r)[:300]}")
    # repository
    st, idx = s.json("POST", "/v2/repository/index", {})
    names = {(e["name"], e.get("version", "")): e for e in idx} if st == 200 else {}
    check(("demo_cnn", "2") in names and names[("demo_cnn", "2")]["state"] == "READY", f"index {idx}")
    bad = names.get(("bad_config", ""), {})
    check(bad.get("state") == "UNAVAILABLE" and "not_a_triton_field" in bad.get("reason", "") and "config.pbtxt" in bad.get("reason", ""),
          f"unknown config field named in reason: {bad}")
    gpu = names.get(("gpu_add", ""), {}) or names.get(("gpu_add", "1"), {})
    if gpu.get("state") == "READY":  # a GPU is visible: it serves like tiny_add
        st, r = s.json("POST", "/v2/models/gpu_add/infer", tiny_body(x))
        check(st == 200 and np.allclose(r["outputs"][0]["data"], (x + np.arange(6).reshape(2, 3)).ravel(), atol=1e-2),
              f"gpu_add infer {r}")
        st, cfg = s.json("GET", "/v2/models/gpu_add/config")
        check(st == 200 and cfg["instance_group"][0]["kind"] == "KIND_GPU" and cfg["instance_group"][0]["gpus"] == [0]
              and cfg["optimization"]["cuda"]["graphs"] is True, f"gpu_add config {cfg}")
    else:
        reason = gpu.get("reason", "")
        check(gpu.get("state") == "UNAVAILABLE" and all(p in reason for p in ("gpu_add", "gpu_group", "KIND_GPU", "cuda:0")),
              f"no GPU: gpu_add unavailable with a reason naming model, group and device: {gpu}")
        st, err = s.json("POST", "/v2/repository/models/gpu_add/load")
        check(st == 400 and "cuda:0" in str(err), f"load of gpu_add without a GPU -> 400 naming the device: {st} {err}")
        check(s.req("GET", "/v2/models/gpu_add/ready")[0] == 400, "gpu_add not ready")
        check(s.req("GET", "/v2/health/live")[0] == 200, "live after the GPU load failure")
    st, idx = s.json("POST", "/v2/repository/index", {"ready": True})
    check(st == 200 and all(e["state"] == "READY" for e in idx), "ready index")
    check(s.req("POST", "/v2/repository/models/bad_config/load")[0] == 400, "load of a bad config -> 400")
    check(s.req("POST", "/v2/repository/models/missing/load")[0] == 404, "load unknown -> 404")
    # stats + metrics
    st, stats = s.json("GET", "/v2/models/tiny_add/stats")
    ms = stats["model_stats"][0] if st == 200 else {}
    check(ms.get("inference_stats", {}).get("success", {}).get("count", 0) >= 2 and "compute_infer" in ms["inference_stats"],
          f"stats {stats}")
    check(s.req("GET", "/v2/models/stats")[0] == 200, "all stats")
    st, m, _ = s.req("GET", "/metrics")
    m = m.decode()
    for key in ["ferry_inference_request_success{", "ferry_inference_queue_duration_us", "ferry_inference_batch_size_bucket",
                "process_resident_memory_bytes", "ferry_inflight_requests", "ferry_inference_compute_infer_duration_us"]:
        check(key in m, f"metrics has {key}")
    check(s.req("GET", "/v2/nothing")[0] == 404, "unknown path 404")
    check(s.req("GET", "/v2/models/tiny_add/infer")[0] == 405, "GET infer 405")


def test_hostile(s):
    p = "/v2/models/tiny_add/infer"
    cases = [
        ("malformed json", b"{not json", 400),
        ("json array", b"[1,2]", 400),
        ("deep json", b"[" * 100000, 400),
        ("wrong dtype", json.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": [2, 3], "data": [1] * 6}]}), 400),
        ("bad datatype", json.dumps({"inputs": [{"name": "x", "datatype": "FP99", "shape": [2, 3], "data": [1] * 6}]}), 400),
        ("wrong shape", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 2], "data": [1] * 6}]}), 400),
        ("count mismatch", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1] * 5}]}), 400),
        ("huge shape", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2**40, 2**40], "data": []}]}), 400),
        ("negative dim", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-2, 3], "data": []}]}), 400),
        ("string data", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": ["a"] * 6}]}), 400),
        ("unknown input", json.dumps({"inputs": [{"name": "zz", "datatype": "FP32", "shape": [2, 3], "data": [1] * 6}]}), 400),
        ("unknown output", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1] * 6}],
                                       "outputs": [{"name": "nope"}]}), 400),
        ("no inputs", b"{}", 400),
    ]
    for what, body, want in cases:
        st, d, _ = s.req("POST", p, body)
        check(st == want and b"error" in d, f"hostile {what}: {st} {d[:120]}")
    # binary byte size mismatch
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": 20}}]}).encode()
    st, _, _ = s.req("POST", p, head + b"\0" * 20, {"Inference-Header-Content-Length": str(len(head))})
    check(st == 400, "binary size mismatch")
    st, _, _ = s.req("POST", p, b"{}", {"Inference-Header-Content-Length": "999"})
    check(st == 400, "header length past body")
    check(s.req("POST", "/v2/models/nope/infer", tiny_body(np.zeros((2, 3))))[0] == 404, "unknown model infer 404")
    check(s.req("POST", "/v2/models/tiny_add/versions/9/infer", tiny_body(np.zeros((2, 3))))[0] == 404, "unknown version infer 404")
    # oversized body: 413 (or the connection closed while we were still sending)
    try:
        st = s.req("POST", p, b"x" * 3_000_000)[0]
    except (ConnectionError, BrokenPipeError, http.client.HTTPException):
        st = 413
    check(st == 413, f"oversized body {st}")
    # slowloris: trickle a header; the server must close the connection after the read timeout
    t0 = time.time()
    sk = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    closed = False
    try:
        sk.sendall(b"POST /v2/models/tiny_add/infer HTTP/1.1\r\nHost: x\r\n")
        for _ in range(40):  # bounded: 40 x 0.25 s
            sk.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.25)
            sk.settimeout(0.01)
            try:
                if sk.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
    except OSError:
        closed = True
    sk.close()
    check(closed and time.time() - t0 < 8, f"slowloris closed after {time.time() - t0:.1f}s")
    # abrupt disconnects: half-sent requests and requests whose answer nobody reads
    for i in range(50):
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        body = json.dumps(tiny_body(np.zeros((2, 3), np.float32))).encode()
        req = b"POST /v2/models/tiny_add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        sk.sendall(req[: len(req) // 2] if i % 2 else req)
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        sk.close()
    check(s.req("GET", "/v2/health/live")[0] == 200, "live after disconnects")


def test_garbage(s, n):
    rng = random.Random(1)
    rss0 = s.rss()
    t_end = time.time() + 120
    answered = 0
    templates = [b"GET / HTTP/1.1\r\n", b"POST /v2/models/tiny_add/infer HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                 b"POST /v2/models/demo_cnn/infer HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"inputs\":[{\"name\":\"image\",", b""]
    for i in range(n):
        if time.time() > t_end:
            break
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        msg = rng.choice(templates) + junk + (b"\r\n\r\n" if i % 3 == 0 else b"")
        try:
            sk = socket.create_connection(("127.0.0.1", s.port), timeout=3)
            sk.sendall(msg)
            sk.shutdown(socket.SHUT_WR)
            data = sk.recv(256)
            if data.startswith(b"HTTP/1.1 4") or data == b"":
                answered += 1
            sk.close()
        except OSError:
            answered += 1
        if i % 500 == 0:
            check(s.req("GET", "/v2/health/live")[0] == 200, f"live during garbage at {i}")
    rss1 = s.rss()
    check(s.p.poll() is None, "server alive after garbage")
    check(answered >= 0.95 * min(n, i + 1), f"garbage answered with 4xx/close: {answered}/{n}")
    print(f"garbage: {i + 1} requests, rss {rss0 / 1e6:.1f} -> {rss1 / 1e6:.1f} MB", flush=True)
    return rss0, rss1


def test_rss_flat(s):
    """RSS after a warm-up round of hostile + valid traffic vs after a second identical round."""
    def round_():
        for _ in range(300):
            s.req("POST", "/v2/models/tiny_add/infer", tiny_body(np.ones((2, 3), np.float32)))
            s.req("POST", "/v2/models/tiny_add/infer", b"{bad")
    round_()
    a = s.rss()
    round_()
    b = s.rss()
    print(f"rss round1 {a / 1e6:.1f} MB round2 {b / 1e6:.1f} MB", flush=True)
    check(b <= a * 1.02 + 512 * 1024, f"rss stable {a} -> {b}")


def load_while_switching(s, repo):
    """Requests keep succeeding while demo_cnn is reloaded (new version 3) and another model is unloaded."""
    stop = time.time() + 6
    errors, ok = [], [0]
    img = np.zeros((1, 3, 32, 32), np.float32).tolist()

    def client():
        c = s.conn()
        while time.time() < stop:
            st, d, _ = s.req("POST", "/v2/models/demo_cnn/infer",
                             {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": img}]}, conn=c)
            if st == 200:
                ok[0] += 1
            else:
                errors.append((st, d[:100]))
    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(1)
    os.makedirs(f"{repo}/demo_cnn/3")
    shutil.copy(f"{FIXTURES}/demo_cnn.onnx", f"{repo}/demo_cnn/3/model.onnx")
    st1 = s.req("POST", "/v2/repository/models/demo_cnn/load")[0]
    time.sleep(1)
    st2 = s.req("POST", "/v2/repository/models/tiny_add/unload")[0]
    for t in ts:
        t.join()
    check(st1 == 200 and st2 == 200, f"reload/unload {st1} {st2}")
    check(not errors and ok[0] > 0, f"no request failed during the version switch: ok {ok[0]} errors {errors[:3]}")
    st, md = s.json("GET", "/v2/models/demo_cnn")
    check(md.get("versions") == ["1", "2", "3"], f"new version visible {md}")
    check(s.req("GET", "/v2/models/tiny_add/ready")[0] == 400, "unloaded model not ready")
    check(s.req("POST", "/v2/models/tiny_add/infer", tiny_body(np.zeros((2, 3))))[0] in (404, 503), "unloaded model infer refused")
    check(s.req("POST", "/v2/repository/models/tiny_add/load")[0] == 200, "reload tiny_add")


def sigterm_drains(s):
    """Requests queued in slow_batch (1.5 s batching window) when SIGTERM arrives all complete; exit code 0."""
    results = []
    body = json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32],
                                   "data": [0.0] * 3072}]}).encode()

    def client():
        try:
            results.append(s.req("POST", "/v2/models/slow_batch/infer", body)[0])
        except Exception as e:  # noqa: BLE001 — report any client-side failure
            results.append(repr(e))
    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    s.p.send_signal(signal.SIGTERM)
    for t in ts:
        t.join(30)
    rc = s.p.wait(30)
    check(rc == 0, f"exit code after SIGTERM {rc}")
    check(results == [200] * 4, f"in-flight requests drained: {results}")


def main():
    t0 = time.time()
    with tempfile.TemporaryDirectory() as repo:
        make_repo(repo)
        s = Server(repo, "--model-control-mode", "explicit", "--load-model", "*", "--no-strict-readiness")
        try:
            test_endpoints(s)
            test_hostile(s)
            test_garbage(s, GARBAGE)
            test_rss_flat(s)
            load_while_switching(s, repo)
            check(s.req("GET", "/v2/health/live")[0] == 200, "live at the end")
            sigterm_drains(s)
        finally:
            if s.p.poll() is None:
                s.p.kill()
        # strict readiness + mode none: a broken model makes the server not ready, load/unload refused
        s2 = Server(repo)
        try:
            check(s2.req("GET", "/v2/health/ready")[0] == 400, "strict readiness with a broken model")
            check(s2.req("POST", "/v2/repository/models/tiny_add/unload")[0] == 400, "unload refused in mode none")
        finally:
            s2.p.send_signal(signal.SIGTERM)
            check(s2.p.wait(30) == 0, "second server exits 0")
    print(f"serve_e2e: {len(failures)} failures in {time.time() - t0:.1f}s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
