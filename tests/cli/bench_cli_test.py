#!/usr/bin/python3
"""End-to-end tests of `ferry bench`: the JSON summary, the exported profile/trace/HTML, and bad arguments.

Usage: /usr/bin/python3 tests/cli/bench_cli_test.py FERRY_BINARY FIXTURES_DIR   (CTest runs it; stdlib only)
Bad arguments must exit with code 2 and print exactly one line on stderr.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

FERRY = None
FIX = None

SUMMARY_KEYS = ["median_ms", "mean_ms", "min_ms", "max_ms", "p90_ms", "p95_ms", "p99_ms", "throughput_qps", "load_ms",
                "threads", "batch", "iterations", "cov", "stddev_ms"]


def bench(*args, timeout=120):
    p = subprocess.run([FERRY, "bench", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Summary(unittest.TestCase):
    def test_json_has_keys(self):
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "5", "--json", "--threads", "1")
        self.assertEqual(code, 0, err)
        self.assertEqual(err.strip(), "", "nothing on stderr with --json")
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, out)
        j = json.loads(lines[0])
        for k in SUMMARY_KEYS:
            self.assertIn(k, j)
        self.assertEqual(j["iterations"], 5)
        self.assertEqual(j["batch"], 1)
        self.assertEqual(j["threads"], 1)
        self.assertLessEqual(j["min_ms"], j["median_ms"])
        self.assertLessEqual(j["median_ms"], j["p90_ms"])
        self.assertLessEqual(j["p90_ms"], j["p95_ms"])
        self.assertLessEqual(j["p95_ms"], j["p99_ms"])
        self.assertLessEqual(j["p99_ms"], j["max_ms"])
        self.assertGreater(j["throughput_qps"], 0)
        self.assertAlmostEqual(j["throughput_qps"], 1000.0 / j["mean_ms"], delta=1e-6 * j["throughput_qps"])

    def test_batch_sets_symbolic_first_dim(self):
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "3", "--json", "--batch", "4")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertEqual(j["batch"], 4)
        self.assertIn("[4,3,32,32]", j["inputs"][0])

    def test_streams_pool_runs_and_count_throughput_over_wall_time(self):
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "4", "--streams", "3", "--json")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertEqual(j["streams"], 3)
        self.assertEqual(j["iterations"], 12)  # --iterations counts per stream
        self.assertAlmostEqual(j["throughput_qps"], 12 / j["wall_s"], delta=1e-6 * j["throughput_qps"])
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "2", "--streams", "2")
        self.assertEqual(code, 0, err)
        self.assertIn("2 streams x 1 in flight at once: batch 1 x 4 runs", out)

    def test_duration(self):
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--duration", "0.2", "--json")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertGreaterEqual(j["iterations"], 1)
        self.assertGreaterEqual(j["wall_s"], 0.2)

    def test_text_summary(self):
        code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "5", "--warmup", "1")
        self.assertEqual(code, 0, err)
        for needle in ["Session creation", "median", "p99", "Throughput", "coefficient of variation",
                       "Per-layer profile", "Conv"]:
            self.assertIn(needle, out)


class Exports(unittest.TestCase):
    def test_trace_is_valid_json_with_events(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trace.json")
            code, out, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "5", "--json", "--export-trace", path,
                                   "--profile-iterations", "3")
            self.assertEqual(code, 0, err)
            with open(path) as f:
                trace = json.load(f)
            events = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
            node_events = [e for e in events if e.get("cat") != "iteration"]
            runs = [e for e in events if e.get("cat") == "iteration"]
            self.assertEqual(len(runs), 3)
            self.assertGreater(len(node_events), 0)
            self.assertEqual(len(node_events) % 3, 0, "same nodes in every profiled run")
            for e in events:
                for k in ["name", "ts", "dur", "pid", "tid"]:
                    self.assertIn(k, e)
                self.assertGreaterEqual(e["dur"], 0)
            # Sessions fuse Conv+Relu into ferry.FusedConv at the default optimization level.
            self.assertTrue({"Conv", "FusedConv"} & {e["cat"] for e in node_events}, node_events[:5])

    def test_profile_json_and_csv(self):
        with tempfile.TemporaryDirectory() as d:
            pj, pc = os.path.join(d, "p.json"), os.path.join(d, "p.csv")
            for path in (pj, pc):
                code, _, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "3", "--export-profile", path)
                self.assertEqual(code, 0, err)
            with open(pj) as f:
                prof = json.load(f)
            self.assertGreater(prof["runs"], 0)
            self.assertGreater(len(prof["layers"]), 0)
            self.assertAlmostEqual(sum(l["percent"] for l in prof["layers"]), 100.0, delta=0.1)
            with open(pc, newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertIn("node", {r["kind"] for r in rows})
            self.assertTrue({"Conv", "FusedConv"} & {r["op_type"] for r in rows}, rows[:5])

    def test_html_has_inline_svg(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "b.html")
            code, _, err = bench(f"{FIX}/demo_cnn.onnx", "--iterations", "20", "--json", "--export-html", path)
            self.assertEqual(code, 0, err)
            with open(path) as f:
                html = f.read()
            self.assertIn("<svg", html)
            self.assertIn("p99", html)
            self.assertNotIn("<script", html)
            self.assertNotIn("http://", html.replace("http://www.w3.org/2000/svg", ""))


class BadArguments(unittest.TestCase):
    def expect_bad(self, args, needle=None):
        code, out, err = bench(*args)
        self.assertEqual(code, 2, f"exit {code}, stderr: {err}")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one error line, got: {err!r}")
        if needle:
            self.assertIn(needle, lines[0])

    def test_bad_streams(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--streams", "0"], "--streams '0' is not an integer in [1, 64]")

    def test_bad_inflight(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--inflight", "0"], "--inflight '0' is not an integer in [1, 16]")
        # requests in flight on one session are a device feature (the CPU runs one request with all its threads)
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--inflight", "2"], "--inflight need --device cuda")

    def test_bad_iterations(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--iterations", "abc"], "--iterations")
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--iterations", "0"], "--iterations")

    def test_iterations_and_duration(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--iterations", "3", "--duration", "1"], "--duration")

    def test_bad_duration(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--duration", "-1"], "--duration")

    def test_bad_batch_and_threads(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--batch", "0"], "--batch")
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--threads", "x"], "--threads")

    def test_unknown_option(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--frobnicate"], "--frobnicate")

    def test_missing_model(self):
        self.expect_bad([], "MODEL")
        self.expect_bad([f"{FIX}/does_not_exist.onnx", "--iterations", "1"], "cannot open model file")

    def test_unknown_shape_input(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--iterations", "1", "--shapes", "nope:1x2"], "nope")

    def test_unwritable_export(self):
        self.expect_bad([f"{FIX}/demo_cnn.onnx", "--iterations", "1", "--json", "--export-trace",
                         "/nonexistent_dir/t.json"], "/nonexistent_dir/t.json")


if __name__ == "__main__":
    FERRY, FIX = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]], verbosity=1)
