// elementwise_test.cc — unary math/activations, broadcasting binary ops, comparisons, Where, Clip, variadic
// ops, PRelu, SwiGLU and Dropout (values hand-computed or taken from the ONNX spec examples).
#include <cmath>
#include <limits>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor run1(Node n, const std::vector<Tensor>& ins, int opset = 21) {
  auto out = run_single_op(std::move(n), ins, opset);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  if (!out.has_value()) return Tensor();
  return (*out)[0];
}

template <typename T>
Tensor tvec(DType t, Shape s, std::vector<T> v) {
  return Tensor::from_vector<T>(t, std::move(s), v);
}

Tensor bvec(Shape s, std::vector<int> v) {
  Tensor t = Tensor::empty(DType::kBool, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i] != 0;
  return t;
}

TEST(ElementwiseFamily, UnaryMath) {
  Tensor x = fvec({5}, {-2.5f, -0.5f, 0.f, 0.5f, 2.5f});
  expect_near(run1(Node::make("Abs", {"x"}, {"y"}), {x}), fvec({5}, {2.5f, 0.5f, 0, 0.5f, 2.5f}));
  expect_near(run1(Node::make("Neg", {"x"}, {"y"}), {x}), fvec({5}, {2.5f, 0.5f, 0, -0.5f, -2.5f}));
  expect_near(run1(Node::make("Floor", {"x"}, {"y"}), {x}), fvec({5}, {-3, -1, 0, 0, 2}));
  expect_near(run1(Node::make("Ceil", {"x"}, {"y"}), {x}), fvec({5}, {-2, 0, 0, 1, 3}));
  // Round: half to even.
  expect_near(run1(Node::make("Round", {"x"}, {"y"}), {x}), fvec({5}, {-2, 0, 0, 0, 2}));
  expect_near(run1(Node::make("Sign", {"x"}, {"y"}), {x}), fvec({5}, {-1, -1, 0, 1, 1}));
  expect_near(run1(Node::make("Relu", {"x"}, {"y"}), {x}), fvec({5}, {0, 0, 0, 0.5f, 2.5f}));
  Tensor p = fvec({3}, {1.f, 4.f, 0.25f});
  expect_near(run1(Node::make("Sqrt", {"x"}, {"y"}), {p}), fvec({3}, {1, 2, 0.5f}));
  expect_near(run1(Node::make("Reciprocal", {"x"}, {"y"}), {p}), fvec({3}, {1, 0.25f, 4}));
  expect_near(run1(Node::make("Log", {"x"}, {"y"}), {p}), fvec({3}, {0, std::log(4.f), std::log(0.25f)}));
  expect_near(run1(Node::make("Exp", {"x"}, {"y"}), {fvec({2}, {0, 1})}), fvec({2}, {1, std::exp(1.f)}));
  expect_near(run1(Node::make("Erf", {"x"}, {"y"}), {fvec({3}, {0, 1, -1})}),
              fvec({3}, {0, 0.84270079f, -0.84270079f}));
  expect_near(run1(Node::make("Atanh", {"x"}, {"y"}), {fvec({1}, {0.5f})}), fvec({1}, {0.54930614f}));
}

TEST(ElementwiseFamily, IntegerUnary) {
  Tensor x = tvec<int32_t>(DType::kInt32, {4}, {-3, 0, 5, std::numeric_limits<int32_t>::min()});
  expect_near(run1(Node::make("Abs", {"x"}, {"y"}), {x}),
              tvec<int32_t>(DType::kInt32, {4}, {3, 0, 5, std::numeric_limits<int32_t>::min()}));
  expect_near(run1(Node::make("Sign", {"x"}, {"y"}), {x}), tvec<int32_t>(DType::kInt32, {4}, {-1, 0, 1, -1}));
  expect_near(run1(Node::make("Relu", {"x"}, {"y"}), {x}), tvec<int32_t>(DType::kInt32, {4}, {0, 0, 5, 0}));
  Tensor u = tvec<uint8_t>(DType::kUInt8, {2}, {0x0F, 0xF0});
  expect_near(run1(Node::make("BitwiseNot", {"x"}, {"y"}), {u}), tvec<uint8_t>(DType::kUInt8, {2}, {0xF0, 0x0F}));
  expect_near(run1(Node::make("Not", {"x"}, {"y"}), {bvec({2}, {1, 0})}), bvec({2}, {0, 1}));
}

TEST(ElementwiseFamily, Activations) {
  Tensor x = fvec({3}, {-1.f, 0.f, 1.f});
  expect_near(run1(Node::make("Sigmoid", {"x"}, {"y"}), {x}), fvec({3}, {0.26894142f, 0.5f, 0.73105858f}));
  expect_near(run1(Node::make("Tanh", {"x"}, {"y"}), {x}), fvec({3}, {-0.76159416f, 0, 0.76159416f}));
  Node lr = Node::make("LeakyRelu", {"x"}, {"y"});
  lr.attrs["alpha"] = attr_f(0.1f);
  expect_near(run1(lr, {x}), fvec({3}, {-0.1f, 0, 1}));
  expect_near(run1(Node::make("Elu", {"x"}, {"y"}), {x}), fvec({3}, {-0.63212056f, 0, 1}));
  // ONNX Selu example: alpha 2, gamma 3 on [-1, 0, 1] -> [-3.79272318, 0, 3].
  Node selu = Node::make("Selu", {"x"}, {"y"});
  selu.attrs["alpha"] = attr_f(2.f);
  selu.attrs["gamma"] = attr_f(3.f);
  expect_near(run1(selu, {x}), fvec({3}, {-3.79272318f, 0, 3}));
  expect_near(run1(Node::make("Softplus", {"x"}, {"y"}), {x}), fvec({3}, {0.31326169f, 0.69314718f, 1.31326169f}));
  expect_near(run1(Node::make("Softsign", {"x"}, {"y"}), {x}), fvec({3}, {-0.5f, 0, 0.5f}));
  expect_near(run1(Node::make("HardSigmoid", {"x"}, {"y"}), {x}), fvec({3}, {0.3f, 0.5f, 0.7f}));
  expect_near(run1(Node::make("HardSwish", {"x"}, {"y"}), {x}), fvec({3}, {-1.f / 3, 0, 2.f / 3}));
  expect_near(run1(Node::make("Mish", {"x"}, {"y"}), {x}), fvec({3}, {-0.30340147f, 0, 0.86509839f}));
  expect_near(run1(Node::make("Swish", {"x"}, {"y"}), {x}, 24), fvec({3}, {-0.26894142f, 0, 0.73105858f}));
  expect_near(run1(Node::make("Celu", {"x"}, {"y"}), {x}), fvec({3}, {-0.63212056f, 0, 1}));
  Node tr = Node::make("ThresholdedRelu", {"x"}, {"y"});
  tr.attrs["alpha"] = attr_f(0.5f);
  expect_near(run1(tr, {x}), fvec({3}, {0, 0, 1}));
  expect_near(run1(Node::make("Gelu", {"x"}, {"y"}), {x}, 20), fvec({3}, {-0.15865525f, 0, 0.84134475f}));
  Node gt = Node::make("Gelu", {"x"}, {"y"});
  gt.attrs["approximate"] = attr_s("tanh");
  expect_near(run1(gt, {x}, 20), fvec({3}, {-0.15880801f, 0, 0.84119199f}));
  // Shrink: lambd 1.5, bias 1.5 on [-2..2].
  Node sh = Node::make("Shrink", {"x"}, {"y"});
  sh.attrs["lambd"] = attr_f(1.5f);
  sh.attrs["bias"] = attr_f(1.5f);
  expect_near(run1(sh, {fvec({5}, {-2, -1, 0, 1, 2})}), fvec({5}, {-0.5f, 0, 0, 0, 0.5f}));
}

TEST(ElementwiseFamily, HalfAndDouble) {
  Tensor h = Tensor::empty(DType::kFloat16, {2});
  h.data<Half>()[0] = half_from_float(-1.f);
  h.data<Half>()[1] = half_from_float(2.f);
  Tensor y = run1(Node::make("Relu", {"x"}, {"y"}), {h});
  expect_near(y, from_double_vector(DType::kFloat16, {2}, {0, 2}));
  Tensor d = tvec<double>(DType::kDouble, {2}, {0.25, 9.0});
  expect_near(run1(Node::make("Sqrt", {"x"}, {"y"}), {d}), tvec<double>(DType::kDouble, {2}, {0.5, 3.0}));
}

TEST(ElementwiseFamily, IsNaNIsInf) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = fvec({4}, {1.f, NAN, inf, -inf});
  expect_near(run1(Node::make("IsNaN", {"x"}, {"y"}), {x}), bvec({4}, {0, 1, 0, 0}));
  expect_near(run1(Node::make("IsInf", {"x"}, {"y"}), {x}), bvec({4}, {0, 0, 1, 1}));
  Node pos = Node::make("IsInf", {"x"}, {"y"});
  pos.attrs["detect_negative"] = attr_i(0);
  expect_near(run1(pos, {x}), bvec({4}, {0, 0, 1, 0}));
}

TEST(ElementwiseFamily, BroadcastArithmetic) {
  // [2,3] + [3] and [2,1] * [1,3], odd shapes.
  Tensor a = fvec({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_near(run1(Node::make("Add", {"a", "b"}, {"y"}), {a, fvec({3}, {10, 20, 30})}),
              fvec({2, 3}, {11, 22, 33, 14, 25, 36}));
  expect_near(run1(Node::make("Sub", {"a", "b"}, {"y"}), {a, fvec({2, 1}, {1, 2})}),
              fvec({2, 3}, {0, 1, 2, 2, 3, 4}));
  expect_near(run1(Node::make("Mul", {"a", "b"}, {"y"}), {fvec({2, 1}, {2, 3}), fvec({1, 3}, {1, 10, 100})}),
              fvec({2, 3}, {2, 20, 200, 3, 30, 300}));
  expect_near(run1(Node::make("Div", {"a", "b"}, {"y"}), {a, fvec({}, {2})}), fvec({2, 3}, {0.5f, 1, 1.5f, 2, 2.5f, 3}));
  // Middle-axis broadcast [2,1,3] + [1,2,1].
  expect_near(run1(Node::make("Add", {"a", "b"}, {"y"}), {fvec({2, 1, 3}, {0, 1, 2, 3, 4, 5}), fvec({1, 2, 1}, {10, 20})}),
              fvec({2, 2, 3}, {10, 11, 12, 20, 21, 22, 13, 14, 15, 23, 24, 25}));
  // Empty tensors broadcast to empty.
  Tensor e = run1(Node::make("Add", {"a", "b"}, {"y"}), {fvec({0, 3}, {}), fvec({3}, {1, 2, 3})});
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
}

TEST(ElementwiseFamily, IntegerArithmetic) {
  Tensor a = tvec<int32_t>(DType::kInt32, {4}, {7, -7, 7, -7});
  Tensor b = tvec<int32_t>(DType::kInt32, {4}, {2, 2, -2, 0});
  // Integer Div truncates; division by zero gives 0 instead of trapping.
  expect_near(run1(Node::make("Div", {"a", "b"}, {"y"}), {a, b}), tvec<int32_t>(DType::kInt32, {4}, {3, -3, -3, 0}));
  // Mod (fmod=0): sign of the divisor.
  expect_near(run1(Node::make("Mod", {"a", "b"}, {"y"}), {a, b}), tvec<int32_t>(DType::kInt32, {4}, {1, 1, -1, 0}));
  Node fm = Node::make("Mod", {"a", "b"}, {"y"});
  fm.attrs["fmod"] = attr_i(1);
  expect_near(run1(fm, {a, b}), tvec<int32_t>(DType::kInt32, {4}, {1, -1, 1, 0}));
  // Float fmod keeps the dividend's sign.
  expect_near(run1(fm, {fvec({2}, {-4.3f, 4.3f}), fvec({2}, {2.1f, -2.1f})}), fvec({2}, {-0.1f, 0.1f}), 1e-4, 1e-5);
}

TEST(ElementwiseFamily, PowMixedTypes) {
  expect_near(run1(Node::make("Pow", {"a", "b"}, {"y"}), {fvec({3}, {1, 2, 3}), fvec({3}, {4, 5, 6})}),
              fvec({3}, {1, 32, 729}));
  expect_near(run1(Node::make("Pow", {"a", "b"}, {"y"}), {fvec({3}, {1, 2, 3}), ivec({1}, {2})}), fvec({3}, {1, 4, 9}));
  expect_near(run1(Node::make("Pow", {"a", "b"}, {"y"}), {ivec({3}, {1, 2, 3}), ivec({3}, {4, 5, 6})}),
              ivec({3}, {1, 32, 729}));
  expect_near(run1(Node::make("Pow", {"a", "b"}, {"y"}), {tvec<int32_t>(DType::kInt32, {2}, {2, 3}), fvec({2}, {0.5f, 2})}),
              tvec<int32_t>(DType::kInt32, {2}, {1, 9}));
}

TEST(ElementwiseFamily, BitShiftAndBitwise) {
  Node l = Node::make("BitShift", {"a", "b"}, {"y"});
  l.attrs["direction"] = attr_s("LEFT");
  Tensor a = tvec<uint8_t>(DType::kUInt8, {3}, {16, 4, 1});
  Tensor s = tvec<uint8_t>(DType::kUInt8, {3}, {1, 2, 9});
  expect_near(run1(l, {a, s}), tvec<uint8_t>(DType::kUInt8, {3}, {32, 16, 0}));
  Node r = Node::make("BitShift", {"a", "b"}, {"y"});
  r.attrs["direction"] = attr_s("RIGHT");
  expect_near(run1(r, {a, s}), tvec<uint8_t>(DType::kUInt8, {3}, {8, 1, 0}));
  Tensor x = tvec<uint64_t>(DType::kUInt64, {2}, {0xF0F0, 0x00FF});
  Tensor m = tvec<uint64_t>(DType::kUInt64, {1}, {0x0FF0});
  expect_near(run1(Node::make("BitwiseAnd", {"a", "b"}, {"y"}), {x, m}), tvec<uint64_t>(DType::kUInt64, {2}, {0x00F0, 0x00F0}));
  expect_near(run1(Node::make("BitwiseOr", {"a", "b"}, {"y"}), {x, m}), tvec<uint64_t>(DType::kUInt64, {2}, {0xFFF0, 0x0FFF}));
  expect_near(run1(Node::make("BitwiseXor", {"a", "b"}, {"y"}), {x, m}), tvec<uint64_t>(DType::kUInt64, {2}, {0xFF00, 0x0F0F}));
  Tensor p = bvec({4}, {0, 0, 1, 1}), q = bvec({4}, {0, 1, 0, 1});
  expect_near(run1(Node::make("And", {"a", "b"}, {"y"}), {p, q}), bvec({4}, {0, 0, 0, 1}));
  expect_near(run1(Node::make("Or", {"a", "b"}, {"y"}), {p, q}), bvec({4}, {0, 1, 1, 1}));
  expect_near(run1(Node::make("Xor", {"a", "b"}, {"y"}), {p, q}), bvec({4}, {0, 1, 1, 0}));
}

TEST(ElementwiseFamily, Comparisons) {
  Tensor a = fvec({2, 2}, {1, 2, 3, 4});
  Tensor b = fvec({2}, {2, 3});
  expect_near(run1(Node::make("Equal", {"a", "b"}, {"y"}), {a, b}), bvec({2, 2}, {0, 0, 0, 0}));
  expect_near(run1(Node::make("Greater", {"a", "b"}, {"y"}), {a, b}), bvec({2, 2}, {0, 0, 1, 1}));
  expect_near(run1(Node::make("GreaterOrEqual", {"a", "b"}, {"y"}), {a, b}), bvec({2, 2}, {0, 0, 1, 1}));
  expect_near(run1(Node::make("Less", {"a", "b"}, {"y"}), {a, b}), bvec({2, 2}, {1, 1, 0, 0}));
  expect_near(run1(Node::make("LessOrEqual", {"a", "b"}, {"y"}), {fvec({2}, {2, 4}), b}), bvec({2}, {1, 0}));
  Tensor s1 = Tensor::empty(DType::kString, {2}), s2 = Tensor::empty(DType::kString, {1});
  s1.data<std::string>()[0] = "x";
  s1.data<std::string>()[1] = "y";
  s2.data<std::string>()[0] = "y";
  expect_near(run1(Node::make("Equal", {"a", "b"}, {"y"}), {s1, s2}), bvec({2}, {0, 1}));
}

TEST(ElementwiseFamily, WhereBroadcast) {
  Tensor c = bvec({2, 1}, {1, 0});
  Tensor x = fvec({1, 3}, {1, 2, 3});
  Tensor y = fvec({}, {-1});
  expect_near(run1(Node::make("Where", {"c", "x", "y"}, {"z"}), {c, x, y}), fvec({2, 3}, {1, 2, 3, -1, -1, -1}));
  Tensor xi = ivec({2}, {5, 6}), yi = ivec({2}, {7, 8});
  expect_near(run1(Node::make("Where", {"c", "x", "y"}, {"z"}), {bvec({2}, {0, 1}), xi, yi}), ivec({2}, {7, 6}));
}

TEST(ElementwiseFamily, ClipForms) {
  Tensor x = fvec({4}, {-3, -1, 1, 3});
  expect_near(run1(Node::make("Clip", {"x", "lo", "hi"}, {"y"}), {x, fvec({}, {-2}), fvec({}, {2})}, 13),
              fvec({4}, {-2, -1, 1, 2}));
  // Only max given (min omitted).
  expect_near(run1(Node::make("Clip", {"x", "", "hi"}, {"y"}), {x, fvec({}, {0})}, 13), fvec({4}, {-3, -1, 0, 0}));
  // min > max: everything becomes max.
  expect_near(run1(Node::make("Clip", {"x", "lo", "hi"}, {"y"}), {x, fvec({}, {2}), fvec({}, {1})}, 13),
              fvec({4}, {1, 1, 1, 1}));
  // Attribute form (opset 6).
  Node old = Node::make("Clip", {"x"}, {"y"});
  old.attrs["min"] = attr_f(-1.5f);
  old.attrs["max"] = attr_f(0.5f);
  expect_near(run1(old, {x}, 6), fvec({4}, {-1.5f, -1, 0.5f, 0.5f}));
  Tensor xi = tvec<int8_t>(DType::kInt8, {3}, {-100, 0, 100});
  expect_near(run1(Node::make("Clip", {"x", "lo"}, {"y"}), {xi, tvec<int8_t>(DType::kInt8, {}, {-5})}, 13),
              tvec<int8_t>(DType::kInt8, {3}, {-5, 0, 100}));
}

TEST(ElementwiseFamily, VariadicOps) {
  Tensor a = fvec({3}, {3, 2, 1}), b = fvec({3}, {1, 4, 4}), c = fvec({3}, {2, 5, 3});
  expect_near(run1(Node::make("Sum", {"a", "b", "c"}, {"y"}), {a, b, c}), fvec({3}, {6, 11, 8}));
  expect_near(run1(Node::make("Mean", {"a", "b", "c"}, {"y"}), {a, b, c}), fvec({3}, {2, 11.f / 3, 8.f / 3}));
  expect_near(run1(Node::make("Max", {"a", "b", "c"}, {"y"}), {a, b, c}), fvec({3}, {3, 5, 4}));
  expect_near(run1(Node::make("Min", {"a", "b", "c"}, {"y"}), {a, b, c}), fvec({3}, {1, 2, 1}));
  expect_near(run1(Node::make("Sum", {"a"}, {"y"}), {a}), a);
  // Broadcasting across inputs, integers.
  expect_near(run1(Node::make("Max", {"a", "b"}, {"y"}), {ivec({2, 1}, {1, 5}), ivec({3}, {2, 3, 6})}),
              ivec({2, 3}, {2, 3, 6, 5, 5, 6}));
  // NaN propagates through Max.
  Tensor m = run1(Node::make("Max", {"a", "b"}, {"y"}), {fvec({2}, {NAN, 1}), fvec({2}, {1, 2})});
  EXPECT_TRUE(std::isnan(m.data<float>()[0]));
}

TEST(ElementwiseFamily, PReluAndSwiGLU) {
  Tensor x = fvec({2, 3}, {-1, 0, 1, -2, -3, 4});
  expect_near(run1(Node::make("PRelu", {"x", "s"}, {"y"}), {x, fvec({3}, {0.1f, 0.2f, 0.3f})}),
              fvec({2, 3}, {-0.1f, 0, 1, -0.2f, -0.6f, 4}));
  Node sw = Node::make("SwiGLU", {"a", "b"}, {"y"});
  expect_near(run1(sw, {fvec({2}, {1, -1}), fvec({2}, {2, 3})}, 28),
              fvec({2}, {2 * 0.73105858f, 3 * -0.26894142f}));
}

TEST(ElementwiseFamily, DropoutInference) {
  Tensor x = fvec({3}, {1, 2, 3});
  Node d = Node::make("Dropout", {"x"}, {"y", "mask"});
  auto out = run_single_op(d, {x}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], x);
  expect_near((*out)[1], bvec({3}, {1, 1, 1}));
  // Training mode with ratio 0 is identity.
  Tensor t = Tensor::empty(DType::kBool, {});
  t.data<bool>()[0] = true;
  auto out2 = run_single_op(Node::make("Dropout", {"x", "r", "t"}, {"y"}), {x, fvec({}, {0}), t}, 13);
  ASSERT_TRUE(out2.has_value()) << out2.status().to_string();
  expect_near((*out2)[0], x);
}

TEST(ElementwiseFamily, LargeParallelMatchesScalar) {
  // Large enough to take the threaded path; compares against scalar arithmetic.
  const int64_t n = 300007;
  std::vector<float> a(n), b(7);
  for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>((i * 37) % 101) - 50.f;
  for (int i = 0; i < 7; ++i) b[i] = 0.5f * static_cast<float>(i);
  // [n/7, 7] + [7]
  Tensor y = run1(Node::make("Add", {"a", "b"}, {"y"}), {fvec({n / 7, 7}, {a.begin(), a.begin() + (n / 7) * 7}), fvec({7}, b)});
  ASSERT_EQ(y.numel(), (n / 7) * 7);
  for (int64_t i = 0; i < y.numel(); i += 997) EXPECT_EQ(y.data<float>()[i], a[i] + b[i % 7]);
  Tensor r = run1(Node::make("Relu", {"x"}, {"y"}), {fvec({n}, a)});
  for (int64_t i = 0; i < n; i += 991) EXPECT_EQ(r.data<float>()[i], std::max(a[i], 0.f));
}

TEST(ElementwiseFamily, FastFloatPathsMatchDouble) {
  // The float32 Sigmoid/Tanh/Swish loops use vectorizable approximations; check them against double math on a
  // dense sweep including tiny, large and special values.
  std::vector<float> xs;
  for (float v = -100.f; v <= 100.f; v += 0.0173f) xs.push_back(v);
  for (float v = -1e-3f; v <= 1e-3f; v += 1.3e-6f) xs.push_back(v);
  xs.push_back(0.f);
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  const int64_t n = static_cast<int64_t>(xs.size());
  Tensor x = fvec({n}, xs);
  Tensor sg = run1(Node::make("Sigmoid", {"x"}, {"y"}), {x});
  Tensor th = run1(Node::make("Tanh", {"x"}, {"y"}), {x});
  Tensor sw = run1(Node::make("Swish", {"x"}, {"y"}), {x}, 24);
  for (int64_t i = 0; i < n; ++i) {
    double v = xs[i];
    double s = 1.0 / (1.0 + std::exp(-v)), t = std::tanh(v);
    EXPECT_NEAR(sg.data<float>()[i], s, 1e-30 + 1e-6 * s) << "sigmoid(" << v << ")";
    EXPECT_NEAR(th.data<float>()[i], t, 1e-30 + 1e-6 * std::fabs(t)) << "tanh(" << v << ")";
    if (std::isfinite(v)) EXPECT_NEAR(sw.data<float>()[i], v * s, 1e-30 + 1e-6 * std::fabs(v * s)) << "swish(" << v << ")";
  }
  Tensor nan = fvec({1}, {NAN});
  EXPECT_TRUE(std::isnan(run1(Node::make("Sigmoid", {"x"}, {"y"}), {nan}).data<float>()[0]));
  EXPECT_TRUE(std::isnan(run1(Node::make("Tanh", {"x"}, {"y"}), {nan}).data<float>()[0]));
}

TEST(ElementwiseFamily, Errors) {
  // Incompatible broadcast.
  auto r1 = run_single_op(Node::make("Add", {"a", "b"}, {"y"}), {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), fvec({2}, {1, 2})});
  EXPECT_FALSE(r1.has_value());
  // Mismatched element types.
  auto r2 = run_single_op(Node::make("Add", {"a", "b"}, {"y"}), {fvec({2}, {1, 2}), ivec({2}, {1, 2})});
  EXPECT_FALSE(r2.has_value());
  // Bad BitShift direction.
  Node bs = Node::make("BitShift", {"a", "b"}, {"y"});
  bs.attrs["direction"] = attr_s("UP");
  auto r3 = run_single_op(bs, {tvec<uint8_t>(DType::kUInt8, {1}, {1}), tvec<uint8_t>(DType::kUInt8, {1}, {1})});
  EXPECT_FALSE(r3.has_value());
  // Clip with non-scalar bounds.
  auto r4 = run_single_op(Node::make("Clip", {"x", "lo"}, {"y"}), {fvec({2}, {1, 2}), fvec({2}, {0, 0})}, 13);
  EXPECT_FALSE(r4.has_value());
  // Where with a non-bool condition.
  auto r5 = run_single_op(Node::make("Where", {"c", "x", "y"}, {"z"}), {fvec({1}, {1}), fvec({1}, {1}), fvec({1}, {2})});
  EXPECT_FALSE(r5.has_value());
  // SwiGLU with different shapes.
  auto r6 = run_single_op(Node::make("SwiGLU", {"a", "b"}, {"y"}), {fvec({2}, {1, 2}), fvec({1}, {1})}, 28);
  EXPECT_FALSE(r6.has_value());
}

}  // namespace
}  // namespace ferry::test
