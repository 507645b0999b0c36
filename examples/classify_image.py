#!/usr/bin/env python3
"""Classify an image end to end with `ferry serve` (stdlib + numpy client).

  ferry serve --model-repository examples/model_repository --http-port 8000 &
  python3 examples/classify_image.py picture.png            # PNG (8-bit RGB/RGBA/gray) or binary PPM
  python3 examples/classify_image.py --url localhost:8000 --model demo_cnn picture.ppm
  python3 examples/classify_image.py --ensemble classify picture.jpg   # raw bytes in, decoded/resized/normalized
                                                                     # and top-5'd by the server (ensemble)

Decodes the image, resizes it to 32x32 (nearest), scales to [0,1] and normalizes with ImageNet mean/std, sends it
as a binary tensor (KServe binary tensor extension) and prints the top-5 classes with the labels from the model
directory. demo_cnn is an untrained demo network: the pipeline is real, the predictions are not meaningful.
"""
import argparse
import http.client
import json
import os
import struct
import zlib

import numpy as np


def read_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (0, 2, 6), "8-bit non-interlaced gray/RGB/RGBA only"
        elif kind == b"IDAT":
            idat += body
    ch = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * ch
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f < 4:
                pred = (0, a, b, (a + b) // 2)[f]
            else:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pred) & 255
        out[y], prev = cur, cur
    img = out.reshape(h, w, ch)
    return np.repeat(img, 3, 2) if ch == 1 else img[:, :, :3]


def read_ppm(data):
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6", "binary PPM (P6) only"
    w, h, mx = int(parts[1]), int(parts[2]), int(parts[3])
    assert mx == 255
    return np.frombuffer(parts[4][:w * h * 3], np.uint8).reshape(h, w, 3)


def preprocess(img, size=32):
    h, w, _ = img.shape
    ys = (np.arange(size) * h // size).clip(0, h - 1)
    xs = (np.arange(size) * w // size).clip(0, w - 1)
    x = img[ys][:, xs].astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def classify_on_server(a, data):
    """Sends the encoded file as one BYTES element to the ensemble; the server does decode -> resize/crop ->
    normalize -> demo_cnn -> top-5 with labels."""
    head = json.dumps({"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                                   "parameters": {"binary_data_size": len(data) + 4}}]}).encode()
    host, port = a.url.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("POST", f"/v2/models/{a.ensemble}/infer", head + struct.pack("<I", len(data)) + data,
              {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}: {body.decode(errors='replace')}")
    outs = {o["name"]: o["data"] for o in json.loads(body)["outputs"]}
    for label, score in zip(outs["CLASSES"], outs["SCORES"]):
        print(f"{score:.4f}  {label}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--url", default="localhost:8000")
    ap.add_argument("--model", default="demo_cnn")
    ap.add_argument("--labels", default=os.path.join(os.path.dirname(__file__), "model_repository/demo_cnn/labels.txt"))
    ap.add_argument("--ensemble", help="send the raw file to this ensemble (e.g. classify) instead of preprocessing here")
    a = ap.parse_args()
    data = open(a.image, "rb").read()
    if a.ensemble:
        return classify_on_server(a, data)
    img = read_png(data) if data[:4] == b"\x89PNG" else read_ppm(data)
    x = preprocess(img)
    head = json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": list(x.shape),
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "probs", "parameters": {"binary_data": True}}]}).encode()
    host, port = a.url.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("POST", f"/v2/models/{a.model}/infer", head + x.tobytes(),
              {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}: {body.decode(errors='replace')}")
    hl = int(r.getheader("Inference-Header-Content-Length"))
    probs = np.frombuffer(body[hl:], np.float32)
    labels = [l.strip() for l in open(a.labels)] if os.path.exists(a.labels) else [str(i) for i in range(len(probs))]
    for i in np.argsort(-probs)[:5]:
        print(f"{probs[i]:.4f}  {labels[i] if i < len(labels) else i}")


if __name__ == "__main__":
    main()
