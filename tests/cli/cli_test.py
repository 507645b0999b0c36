#!/usr/bin/python3
"""End-to-end tests of the ferry CLI: run/inspect on good models, and bad input that must fail cleanly.

Usage: /usr/bin/python3 tests/cli/cli_test.py FERRY_BINARY FIXTURES_DIR   (CTest runs it; stdlib + numpy/onnx only)
Every bad input must exit with code 2 and print exactly one line on stderr that names the problem.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

FERRY = None
FIX = None


def run(*args, timeout=60):
    p = subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def read_tensor(path):
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


class BadInput(unittest.TestCase):
    def expect_bad(self, args, needle):
        code, out, err = run(*args)
        self.assertEqual(code, 2, f"exit {code}, stderr: {err}")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one error line, got: {err!r}")
        self.assertIn(needle, lines[0])

    def test_truncated_file(self):
        self.expect_bad(["run", f"{FIX}/truncated.onnx"], "not a valid ONNX model")

    def test_random_bytes(self):
        code, _, err = run("run", f"{FIX}/random_bytes.onnx")
        self.assertEqual(code, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_missing_file(self):
        self.expect_bad(["run", f"{FIX}/does_not_exist.onnx"], "cannot open model file")

    def test_cyclic_graph(self):
        self.expect_bad(["run", f"{FIX}/cyclic.onnx"], "cycle")

    def test_missing_initializer(self):
        self.expect_bad(["run", f"{FIX}/missing_initializer.onnx"], "'missing_w'")

    def test_unknown_op(self):
        self.expect_bad(["run", f"{FIX}/unknown_op.onnx"], "FrobnicateTensor")

    def test_external_data_escaping_folder(self):
        self.expect_bad(["run", f"{FIX}/external_escape.onnx"], "escapes the model's folder")

    def test_external_data_absolute_path(self):
        self.expect_bad(["run", f"{FIX}/external_absolute.onnx"], "absolute")

    def test_wrong_input_dtype(self):
        self.expect_bad(["run", f"{FIX}/tiny_add.onnx", f"{FIX}/in_int.pb"], "dtype int64, expected float")

    def test_wrong_input_shape(self):
        self.expect_bad(["run", f"{FIX}/tiny_add.onnx", f"{FIX}/in_shape.pb"], "shape [3,2]")

    def test_wrong_input_count(self):
        self.expect_bad(["run", f"{FIX}/tiny_add.onnx", f"{FIX}/in_ok.pb", f"{FIX}/in_ok.pb"], "2 input files")

    def test_input_file_not_a_tensor(self):
        self.expect_bad(["run", f"{FIX}/tiny_add.onnx", f"{FIX}/random_bytes.onnx"], "random_bytes.onnx")

    def test_fuzzer_regressions(self):
        # Inputs the libFuzzer target once crashed or blew up on (scripts/fuzz.sh); each must now be a clean error.
        folder = os.path.join(FIX, "fuzz")
        for name in sorted(os.listdir(folder)):
            with self.subTest(name=name):
                self.expect_bad(["run", os.path.join(folder, name)], "node")

    def test_bad_shape_spec(self):
        self.expect_bad(["run", f"{FIX}/demo_cnn.onnx", "--shape", "image:1xAx3"], "not a non-negative integer")


class GoodInput(unittest.TestCase):
    def test_run_writes_outputs(self):
        with tempfile.TemporaryDirectory() as d:
            code, out, err = run("run", f"{FIX}/tiny_add.onnx", f"{FIX}/in_ok.pb", "--output-dir", d)
            self.assertEqual(code, 0, err)
            self.assertIn("output 0 'y': float [2,3]", out)
            y = read_tensor(os.path.join(d, "output_0.pb"))
            self.assertEqual(y.tolist(), [[1, 2, 3], [4, 5, 6]])

    def test_external_data_inside_folder(self):
        with tempfile.TemporaryDirectory() as d:
            code, out, err = run("run", f"{FIX}/external_ok.onnx", f"{FIX}/in_vec2.pb", "--output-dir", d)
            self.assertEqual(code, 0, err)
            self.assertEqual(read_tensor(os.path.join(d, "output_0.pb")).tolist(), [11.0, 21.0])

    def test_random_inputs_are_announced_and_seeded(self):
        outs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as d:
                code, out, err = run("run", f"{FIX}/demo_cnn.onnx", "--output-dir", d, "--shape", "image:2x3x32x32")
                self.assertEqual(code, 0, err)
                self.assertIn("seeded random input 'image'", out)
                outs.append(read_tensor(os.path.join(d, "output_0.pb")))
        self.assertEqual(outs[0].shape, (2, 10))
        self.assertTrue((outs[0] == outs[1]).all())
        self.assertAlmostEqual(float(outs[0].sum()), 2.0, places=4)  # softmax rows sum to 1

    def test_repeat_checks_runs_are_identical(self):
        with tempfile.TemporaryDirectory() as d:
            code, out, err = run("run", f"{FIX}/demo_cnn.onnx", "-o", d, "--shape", "image:2x3x32x32", "--repeat", "3")
            self.assertEqual(code, 0, err)
            self.assertIn("3 runs of the same inputs gave bit-identical outputs", out)

    def test_repeat_reports_differing_runs(self):
        import onnx
        from onnx import helper, TensorProto
        node = helper.make_node("RandomUniform", [], ["y"], shape=[4, 4])  # no seed: differs per run
        graph = helper.make_graph([node], "rand", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])])
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "rand.onnx")
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
            code, out, err = run("run", path, "-o", d, "--repeat", "2")
            self.assertNotEqual(code, 0)
            self.assertIn("run 2 of the same inputs differs from run 1: output 'y' 16 of 16 values", err)
            self.assertTrue(os.path.exists(os.path.join(d, "output_0.pb")))  # the first run's outputs are kept

    def test_inspect_json(self):
        code, out, err = run("inspect", f"{FIX}/demo_cnn.onnx", "--json")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertEqual(j["node_count"], 9)
        self.assertEqual(j["op_histogram"]["Conv"], 2)
        self.assertEqual(j["inputs"][0]["shape"], "[N,3,32,32]")
        # conv1: 32*32*8 outputs * 27; conv2: 16*16*16 * 72; fc: 10*16
        self.assertEqual(j["total_macs"], 32 * 32 * 8 * 27 + 16 * 16 * 16 * 72 + 160)
        self.assertEqual(j["total_params"], 8 * 27 + 8 + 16 * 72 + 16 + 160 + 10)

    def test_inspect_text(self):
        code, out, err = run("inspect", f"{FIX}/demo_cnn.onnx", "--shape", "image:4x3x32x32")
        self.assertEqual(code, 0, err)
        self.assertIn("MACs", out)
        self.assertIn("image[4,3,32,32]", out)


if __name__ == "__main__":
    FERRY, FIX = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
