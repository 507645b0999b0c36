#!/usr/bin/env python3
"""End-to-end test of ensembles in `ferry serve`: the example repository classifies a generated PNG through the
`classify` ensemble (raw bytes in -> top-5 classes out) over HTTP, with examples/classify_image.py --ensemble as the
client too; broken ensembles (unknown step model, cycle, unmapped tensor) are UNAVAILABLE with reasons naming the
file and step while the rest serves; a corrupt image fails naming the step; metadata/config/stats of the ensemble.

  ensemble_e2e_test.py FERRY EXAMPLES_REPOSITORY
"""
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

FERRY, EXAMPLES = sys.argv[1], sys.argv[2]
FAILS = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILS.append(msg)


def png(w, h, rgb):
    raw = b"".join(b"\x00" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


BROKEN = {
    "broken_unknown": 'platform: "ensemble"\ninput [ { name: "I" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
                      'output [ { name: "O" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] } ]\n'
                      'ensemble_scheduling { step [ { model_name: "no_such_model" input_map { key: "BYTES" value: "I" } '
                      'output_map { key: "IMAGE" value: "O" } } ] }\n',
    "broken_cycle": 'platform: "ensemble"\ninput [ { name: "I" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
                    'output [ { name: "O" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] } ]\n'
                    'ensemble_scheduling { step [\n'
                    ' { model_name: "image_resize" input_map { key: "IMAGE" value: "B" } output_map { key: "RESIZED" value: "A" } },\n'
                    ' { model_name: "image_resize" input_map { key: "IMAGE" value: "A" } output_map { key: "RESIZED" value: "B" } },\n'
                    ' { model_name: "image_decode" input_map { key: "BYTES" value: "I" } output_map { key: "IMAGE" value: "O" } } ] }\n',
    "broken_unmapped": 'platform: "ensemble"\ninput [ { name: "I" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
                       'output [ { name: "O" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] } ]\n'
                       'ensemble_scheduling { step [ { model_name: "image_resize" input_map { key: "IMAGE" value: "pixels" } '
                       'output_map { key: "RESIZED" value: "O" } } ] }\n',
}


def main():
    tmp = tempfile.mkdtemp(prefix="ferry_ens_")
    repo = os.path.join(tmp, "repo")
    shutil.copytree(EXAMPLES, repo)
    for name, cfg in BROKEN.items():
        write(f"{repo}/{name}/config.pbtxt", cfg)
    p = subprocess.Popen([FERRY, "serve", "--model-repository", repo, "--http-address", "127.0.0.1", "--http-port", "0",
                          "--no-strict-readiness"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if "listening on" in line:
            port = int(line.strip().rsplit(":", 1)[1])
            break
    if port is None:
        p.kill()
        raise SystemExit("server did not start: " + p.stderr.read())

    def req(method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    try:
        st, body = req("POST", "/v2/repository/index", "{}")
        rows = {r["name"]: r for r in json.loads(body)}
        for m in ("classify", "image_decode", "image_resize", "image_normalize", "top5", "demo_cnn"):
            check(rows.get(m, {}).get("state") == "READY", f"{m} is READY ({rows.get(m)})")
        reason = rows["broken_unknown"].get("reason", "")
        check("broken_unknown/config.pbtxt" in reason and "step 1 ('no_such_model')" in reason and
              "not in the repository" in reason, f"unknown step model named: {reason}")
        reason = rows["broken_cycle"].get("reason", "")
        check("broken_cycle/config.pbtxt" in reason and "cycle through steps 1 ('image_resize'), 2 ('image_resize')" in reason,
              f"cycle named: {reason}")
        reason = rows["broken_unmapped"].get("reason", "")
        check("step 1 ('image_resize'): input 'IMAGE' reads tensor 'pixels'" in reason, f"unmapped tensor named: {reason}")

        st, body = req("GET", "/v2/models/classify")
        md = json.loads(body)
        check(st == 200 and md["platform"] == "ensemble" and md["inputs"][0]["datatype"] == "BYTES", f"metadata {md}")
        st, body = req("GET", "/v2/models/classify/config")
        check(st == 200 and len(json.loads(body)["ensemble_scheduling"]["step"]) == 5, "config has the 5 steps")

        w, h = 64, 48
        rgb = bytes((x * 4 + c * 60) & 255 if c < 2 else (y * 5) & 255 for y in range(h) for x in range(w) for c in range(3))
        image = png(w, h, rgb)
        path = os.path.join(tmp, "picture.png")
        with open(path, "wb") as f:
            f.write(image)
        head = json.dumps({"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                                       "parameters": {"binary_data_size": len(image) + 4}}]}).encode()
        st, body = req("POST", "/v2/models/classify/infer", head + struct.pack("<I", len(image)) + image,
                       {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
        check(st == 200, f"classify infer -> {st} {body[:300]!r}")
        outs = {o["name"]: o for o in json.loads(body)["outputs"]} if st == 200 else {}
        labels = [l.strip() for l in open(f"{EXAMPLES}/top5/labels.txt")]
        if outs:
            check(outs["CLASSES"]["shape"] == [1, 5] and outs["CLASSES"]["datatype"] == "BYTES", f"CLASSES {outs['CLASSES']}")
            ids, scores, classes = outs["CLASS_IDS"]["data"], outs["SCORES"]["data"], outs["CLASSES"]["data"]
            check([labels[i] for i in ids] == classes, f"labels follow the ids: {ids} {classes}")
            check(all(a >= b for a, b in zip(scores, scores[1:])) and 0 < sum(scores) <= 1.0001, f"scores {scores}")
            check(len(set(ids)) == 5, "five distinct classes")

        cli = subprocess.run([sys.executable, os.path.join(os.path.dirname(EXAMPLES), "classify_image.py"),
                              "--url", f"127.0.0.1:{port}", "--ensemble", "classify", path],
                             capture_output=True, text=True, timeout=60)
        lines = cli.stdout.strip().splitlines()
        check(cli.returncode == 0 and len(lines) == 5 and (not outs or lines[0].split()[-1] == outs["CLASSES"]["data"][0]),
              f"classify_image.py --ensemble: {cli.stdout!r} {cli.stderr[-300:]!r}")

        bad = b"this is not an image"
        head = json.dumps({"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                                       "parameters": {"binary_data_size": len(bad) + 4}}]}).encode()
        st, body = req("POST", "/v2/models/classify/infer", head + struct.pack("<I", len(bad)) + bad,
                       {"Inference-Header-Content-Length": str(len(head))})
        check(st == 400 and b"step 1 ('image_decode')" in body, f"corrupt image -> {st} {body[:300]!r}")

        st, body = req("GET", "/v2/models/classify/stats")
        s = json.loads(body)["model_stats"][0]["inference_stats"]
        check(s["success"]["count"] == 2 and s["fail"]["count"] == 1, f"ensemble stats {s}")
        st, body = req("GET", "/v2/models/demo_cnn/stats")
        s = json.loads(body)["model_stats"][0]["inference_stats"]
        check(s["success"]["count"] == 2, f"step model stats count the ensemble's requests {s}")
        st, body = req("GET", "/v2/health/live")
        check(st == 200, "still live")
    finally:
        p.terminate()
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -1
        check(rc == 0, f"SIGTERM exit code {rc}")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(FAILS)} failures")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
