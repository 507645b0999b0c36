// shape_test.cc — shape-family reference kernels and inference (spec examples, odd shapes, every opset variant).
#include <limits>

#include "ops/op_registry.h"
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Node op(const std::string& type, std::vector<std::string> in, std::vector<std::string> out = {"y"}) {
  return Node::make(type, std::move(in), std::move(out));
}

TEST(ShapeFamily, ReshapeZeroNegativeAndAllowzero) {
  RUN_OK(a, op("Reshape", {"x", "s"}), {iota_f({2, 3, 4}), ivec({3}, {0, -1, 2})});
  expect_near((*a)[0], iota_f({2, 6, 2}));
  Node n = op("Reshape", {"x", "s"});
  n.attrs["allowzero"] = attr_i(1);
  RUN_OK(b, n, {Tensor::empty(DType::kFloat, {0, 3}), ivec({3}, {3, 0, 4})});
  EXPECT_EQ((*b)[0].shape(), (Shape{3, 0, 4}));
  auto bad = run_single_op(op("Reshape", {"x", "s"}), {iota_f({2, 3}), ivec({2}, {4, -1})});
  EXPECT_FALSE(bad.has_value());
  auto two = run_single_op(op("Reshape", {"x", "s"}), {iota_f({2, 3}), ivec({2}, {-1, -1})});
  EXPECT_FALSE(two.has_value());
}

TEST(ShapeFamily, ReshapeStaticInferenceKeepsSymbols) {
  Node n = op("Reshape", {"x", "s"});
  n.opset = 21;
  Tensor target = ivec({2}, {0, -1});
  SymShape in = SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(4)});
  InferContext c(n, {{DType::kFloat, in}, {DType::kInt64, SymShape::from_shape({2})}}, {nullptr, &target});
  ASSERT_TRUE(infer_node(*OpRegistry::global().find("", "Reshape"), c).is_ok());
  EXPECT_EQ(c.outputs()[0].shape.to_string(), "[N,12]");
  // Unknown target value: rank from the shape input's length.
  InferContext u(n, {{DType::kFloat, in}, {DType::kInt64, SymShape::from_shape({3})}}, {nullptr, nullptr});
  ASSERT_TRUE(infer_node(*OpRegistry::global().find("", "Reshape"), u).is_ok());
  EXPECT_EQ(u.outputs()[0].shape.rank(), 3);
}

TEST(ShapeFamily, SliceStaticInferenceUsesConstants) {
  Node n = op("Slice", {"x", "st", "en", "ax"});
  n.opset = 13;
  Tensor st = ivec({1}, {1}), en = ivec({1}, {-1}), ax = ivec({1}, {1});
  SymShape in = SymShape::from_dims({Dim::symbolic("B"), Dim(10)});
  InferContext c(n, {{DType::kFloat, in}, {DType::kInt64, {}}, {DType::kInt64, {}}, {DType::kInt64, {}}},
                 {nullptr, &st, &en, &ax});
  ASSERT_TRUE(infer_node(*OpRegistry::global().find("", "Slice"), c).is_ok());
  EXPECT_EQ(c.outputs()[0].shape.to_string(), "[B,8]");
}

TEST(ShapeFamily, TransposeOddShapeMatchesNaive) {
  Node n = op("Transpose", {"x"});
  n.attrs["perm"] = attr_ints({1, 2, 0});
  Tensor x = iota_f({3, 5, 7});
  RUN_OK(out, n, {x});
  Tensor want = Tensor::empty(DType::kFloat, {5, 7, 3});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j)
      for (int k = 0; k < 7; ++k) want.data<float>()[(j * 7 + k) * 3 + i] = static_cast<float>((i * 5 + j) * 7 + k);
  expect_near((*out)[0], want);
  RUN_OK(d, op("Transpose", {"x"}), {fvec({2, 3}, {1, 2, 3, 4, 5, 6})});
  expect_near((*d)[0], fvec({3, 2}, {1, 4, 2, 5, 3, 6}));
}

TEST(ShapeFamily, ConcatStringsAndNegativeAxis) {
  Node n = op("Concat", {"a", "b"});
  n.attrs["axis"] = attr_i(-1);
  RUN_OK(out, n, {svec({2, 1}, {"a", "b"}), svec({2, 2}, {"c", "d", "e", "f"})});
  expect_near((*out)[0], svec({2, 3}, {"a", "c", "d", "b", "e", "f"}));
  RUN_OK(v1, op("Concat", {"a", "b"}), {fvec({1, 1}, {1}), fvec({1, 2}, {2, 3})}, 1);  // Concat-1: axis 1
  expect_near((*v1)[0], fvec({1, 3}, {1, 2, 3}));
  Node m = op("Concat", {"a", "b"});
  m.attrs["axis"] = attr_i(0);
  auto bad = run_single_op(m, {fvec({1, 2}, {1, 2}), fvec({1, 3}, {1, 2, 3})});
  EXPECT_FALSE(bad.has_value());
}

TEST(ShapeFamily, SplitAllVariants) {
  // opset 18 num_outputs, uneven: 5 -> 2,2,1
  Node n = op("Split", {"x"}, {"a", "b", "c"});
  n.attrs["num_outputs"] = attr_i(3);
  RUN_OK(u, n, {fvec({5}, {1, 2, 3, 4, 5})}, 18);
  expect_near((*u)[0], fvec({2}, {1, 2}));
  expect_near((*u)[2], fvec({1}, {5}));
  // opset 13 split input on axis 1
  Node s = op("Split", {"x", "sp"}, {"a", "b"});
  s.attrs["axis"] = attr_i(1);
  RUN_OK(v, s, {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), ivec({2}, {1, 2})}, 13);
  expect_near((*v)[0], fvec({2, 1}, {1, 4}));
  expect_near((*v)[1], fvec({2, 2}, {2, 3, 5, 6}));
  // opset 11 split attribute, equal split default
  Node a = op("Split", {"x"}, {"a", "b"});
  a.attrs["split"] = attr_ints({3, 1});
  RUN_OK(w, a, {fvec({4}, {1, 2, 3, 4})}, 11);
  expect_near((*w)[1], fvec({1}, {4}));
  RUN_OK(e, op("Split", {"x"}, {"a", "b"}), {fvec({4}, {1, 2, 3, 4})}, 13);
  expect_near((*e)[1], fvec({2}, {3, 4}));
  auto bad = run_single_op(s, {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), ivec({2}, {1, 1})}, 13);
  EXPECT_FALSE(bad.has_value());
}

TEST(ShapeFamily, SliceNegativeStepsClampingAndOldOpset) {
  Node n = op("Slice", {"x", "st", "en", "ax", "sp"});
  RUN_OK(a, n, {fvec({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), ivec({2}, {0, -1}), ivec({2}, {10, -1000}),
                ivec({2}, {0, 1}), ivec({2}, {1, -2})}, 13);
  expect_near((*a)[0], fvec({2, 2}, {4, 2, 8, 6}));
  Node o = op("Slice", {"x"});
  o.attrs["starts"] = attr_ints({1});
  o.attrs["ends"] = attr_ints({1000});
  o.attrs["axes"] = attr_ints({1});
  RUN_OK(b, o, {fvec({2, 3}, {1, 2, 3, 4, 5, 6})}, 9);
  expect_near((*b)[0], fvec({2, 2}, {2, 3, 5, 6}));
  auto bad = run_single_op(n, {fvec({2}, {1, 2}), ivec({1}, {0}), ivec({1}, {1}), ivec({1}, {0}), ivec({1}, {0})}, 13);
  EXPECT_FALSE(bad.has_value());
}

TEST(ShapeFamily, SqueezeUnsqueezeFlattenBothOpsets) {
  Node sq = op("Squeeze", {"x"});
  sq.attrs["axes"] = attr_ints({-1});
  RUN_OK(a, sq, {fvec({1, 3, 1}, {1, 2, 3})}, 11);
  expect_near((*a)[0], fvec({1, 3}, {1, 2, 3}));
  RUN_OK(b, op("Squeeze", {"x"}), {fvec({1, 3, 1}, {1, 2, 3})}, 13);
  expect_near((*b)[0], fvec({3}, {1, 2, 3}));
  auto bad = run_single_op(op("Squeeze", {"x", "a"}), {fvec({1, 3}, {1, 2, 3}), ivec({1}, {1})}, 13);
  EXPECT_FALSE(bad.has_value());
  RUN_OK(c, op("Unsqueeze", {"x", "a"}), {fvec({3}, {1, 2, 3}), ivec({2}, {2, 0})}, 13);
  expect_near((*c)[0], fvec({1, 3, 1}, {1, 2, 3}));
  Node un = op("Unsqueeze", {"x"});
  un.attrs["axes"] = attr_ints({-1});
  RUN_OK(d, un, {fvec({3}, {1, 2, 3})}, 11);
  expect_near((*d)[0], fvec({3, 1}, {1, 2, 3}));
  Node fl = op("Flatten", {"x"});
  fl.attrs["axis"] = attr_i(-1);
  RUN_OK(e, fl, {iota_f({2, 3, 5})});
  expect_near((*e)[0], iota_f({6, 5}));
  Node f0 = op("Flatten", {"x"});
  f0.attrs["axis"] = attr_i(0);
  RUN_OK(f, f0, {iota_f({2, 3})});
  expect_near((*f)[0], iota_f({1, 6}));
}

TEST(ShapeFamily, ExpandAndTile) {
  RUN_OK(a, op("Expand", {"x", "s"}), {fvec({3, 1}, {1, 2, 3}), ivec({3}, {2, 1, 2})});
  expect_near((*a)[0], fvec({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  auto bad = run_single_op(op("Expand", {"x", "s"}), {fvec({3}, {1, 2, 3}), ivec({1}, {2})});
  EXPECT_FALSE(bad.has_value());
  RUN_OK(b, op("Tile", {"x", "r"}), {bvec({1, 2}, {true, false}), ivec({2}, {2, 2})});
  expect_near((*b)[0], bvec({2, 4}, {true, false, true, false, true, false, true, false}));
}

TEST(ShapeFamily, ShapeSizeConstants) {
  Node n = op("Shape", {"x"});
  n.attrs["start"] = attr_i(-2);
  RUN_OK(a, n, {iota_f({2, 3, 5})});
  expect_near((*a)[0], ivec({2}, {3, 5}));
  RUN_OK(s, op("Size", {"x"}), {iota_f({2, 3, 5})});
  expect_near((*s)[0], ivec({}, {30}));
  Node c = op("ConstantOfShape", {"s"});
  c.attrs["value"] = Attr{};
  c.attrs["value"].kind = Attr::Kind::kTensor;
  c.attrs["value"].t = i32vec({1}, {7});
  RUN_OK(b, c, {ivec({2}, {2, 2})});
  expect_near((*b)[0], i32vec({2, 2}, {7, 7, 7, 7}));
  Node k = op("Constant", {});
  k.attrs["value_ints"] = attr_ints({4, 5});
  RUN_OK(d, k, {});
  expect_near((*d)[0], ivec({2}, {4, 5}));
  Node ks = op("Constant", {});
  ks.attrs["value_string"] = attr_s("hi");
  RUN_OK(e, ks, {});
  expect_near((*e)[0], svec({}, {"hi"}));
}

TEST(ShapeFamily, PadAllModes) {
  Tensor x = fvec({3}, {1, 2, 3});
  auto pad = [&](const std::string& mode, std::vector<int64_t> p) {
    Node n = op("Pad", {"x", "p"});
    n.attrs["mode"] = attr_s(mode);
    return run_single_op(n, {x, ivec({static_cast<int64_t>(p.size())}, p)}, 19);
  };
  RUN_OK(c, op("Pad", {"x", "p", "v"}), {x, ivec({2}, {1, 2}), fvec({}, {9})}, 19);
  expect_near((*c)[0], fvec({6}, {9, 1, 2, 3, 9, 9}));
  auto r = pad("reflect", {2, 2});
  ASSERT_TRUE(r.has_value());
  expect_near((*r)[0], fvec({7}, {3, 2, 1, 2, 3, 2, 1}));
  auto e = pad("edge", {2, 1});
  ASSERT_TRUE(e.has_value());
  expect_near((*e)[0], fvec({6}, {1, 1, 1, 2, 3, 3}));
  auto w = pad("wrap", {2, 1});
  ASSERT_TRUE(w.has_value());
  expect_near((*w)[0], fvec({6}, {2, 3, 1, 2, 3, 1}));
  auto crop = pad("constant", {-1, 1});
  ASSERT_TRUE(crop.has_value());
  expect_near((*crop)[0], fvec({3}, {2, 3, 0}));
  // axes input (opset 18) and the opset-2 attribute form
  RUN_OK(ax, op("Pad", {"x", "p", "", "a"}), {iota_f({2, 2}), ivec({2}, {1, 0}), ivec({1}, {-1})}, 18);
  expect_near((*ax)[0], fvec({2, 3}, {0, 0, 1, 0, 2, 3}));
  Node old = op("Pad", {"x"});
  old.attrs["pads"] = attr_ints({0, 1});
  old.attrs["value"] = attr_f(5);
  RUN_OK(o, old, {x}, 2);
  expect_near((*o)[0], fvec({4}, {1, 2, 3, 5}));
  auto bad = pad("constant", {1});
  EXPECT_FALSE(bad.has_value());
}

TEST(ShapeFamily, DepthToSpaceModesAndSpaceToDepth) {
  Node n = op("DepthToSpace", {"x"});
  n.attrs["blocksize"] = attr_i(2);
  Tensor x = iota_f({1, 8, 1, 1});
  RUN_OK(dcr, n, {x});
  expect_near((*dcr)[0], fvec({1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7}));
  n.attrs["mode"] = attr_s("CRD");
  RUN_OK(crd, n, {x});
  expect_near((*crd)[0], fvec({1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}));
  Node s = op("SpaceToDepth", {"x"});
  s.attrs["blocksize"] = attr_i(2);
  RUN_OK(sd, s, {(*dcr)[0]});
  expect_near((*sd)[0], x);
  auto bad = run_single_op(s, {iota_f({1, 1, 3, 3})});
  EXPECT_FALSE(bad.has_value());
}

TEST(ShapeFamily, RangeEyeLikeTrilu) {
  RUN_OK(a, op("Range", {"s", "l", "d"}), {i32vec({}, {10}), i32vec({}, {4}), i32vec({}, {-3})});
  expect_near((*a)[0], i32vec({2}, {10, 7}));
  Tensor h1 = Tensor::from_vector<Half>(DType::kFloat16, {}, {half_from_float(1)});
  Tensor h5 = Tensor::from_vector<Half>(DType::kFloat16, {}, {half_from_float(2.5f)});
  Tensor hd = Tensor::from_vector<Half>(DType::kFloat16, {}, {half_from_float(0.5f)});
  RUN_OK(h, op("Range", {"s", "l", "d"}), {h1, h5, hd}, 27);
  EXPECT_EQ((*h)[0].shape(), (Shape{3}));
  EXPECT_FLOAT_EQ(to_float((*h)[0].data<Half>()[2]), 2.0f);
  auto bad = run_single_op(op("Range", {"s", "l", "d"}), {i32vec({}, {1}), i32vec({}, {4}), i32vec({}, {0})});
  EXPECT_FALSE(bad.has_value());
  Node e = op("EyeLike", {"x"});
  e.attrs["k"] = attr_i(1);
  e.attrs["dtype"] = attr_i(static_cast<int64_t>(DType::kInt32));
  RUN_OK(b, e, {iota_f({2, 3})});
  expect_near((*b)[0], i32vec({2, 3}, {0, 1, 0, 0, 0, 1}));
  RUN_OK(t, op("Trilu", {"x", "k"}), {iota_f({1, 3, 3}), ivec({}, {-1})});
  expect_near((*t)[0], fvec({1, 3, 3}, {0, 1, 2, 3, 4, 5, 0, 7, 8}));
  Node lo = op("Trilu", {"x"});
  lo.attrs["upper"] = attr_i(0);
  RUN_OK(l, lo, {iota_f({2, 3})});
  expect_near((*l)[0], fvec({2, 3}, {0, 0, 0, 3, 4, 0}));
}

TEST(ShapeFamily, CenterCropPadAndReverseSequence) {
  RUN_OK(a, op("CenterCropPad", {"x", "s"}), {iota_f({3, 2}), ivec({2}, {1, 4})}, 18);
  expect_near((*a)[0], fvec({1, 4}, {0, 2, 3, 0}));
  Node r = op("ReverseSequence", {"x", "l"});
  r.attrs["batch_axis"] = attr_i(0);
  r.attrs["time_axis"] = attr_i(1);
  RUN_OK(b, r, {iota_f({2, 3}), ivec({2}, {2, 3})}, 10);
  expect_near((*b)[0], fvec({2, 3}, {1, 0, 2, 5, 4, 3}));
  auto bad = run_single_op(r, {iota_f({2, 3}), ivec({2}, {4, 1})}, 10);
  EXPECT_FALSE(bad.has_value());
}

}  // namespace
}  // namespace ferry::test

namespace ferry::test {
namespace {

TEST(ShapeFamily, ExtremeSliceAndPadValuesNeverCrash) {
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  Node n = Node::make("Slice", {"x", "st", "en", "ax", "sp"}, {"y"});
  Tensor x = fvec({5}, {0, 1, 2, 3, 4});
  auto a = run_single_op(n, {x, ivec({1}, {small}), ivec({1}, {big}), ivec({1}, {0}), ivec({1}, {big})}, 13);
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  expect_near((*a)[0], fvec({1}, {0}));
  auto b = run_single_op(n, {x, ivec({1}, {big}), ivec({1}, {small}), ivec({1}, {0}), ivec({1}, {small})}, 13);
  ASSERT_TRUE(b.has_value()) << b.status().to_string();
  expect_near((*b)[0], fvec({1}, {4}));
  auto c = run_single_op(n, {x, ivec({1}, {3}), ivec({1}, {1}), ivec({1}, {0}), ivec({1}, {1})}, 13);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ((*c)[0].shape(), (Shape{0}));
  Node p = Node::make("Pad", {"x", "p"}, {"y"});
  EXPECT_FALSE(run_single_op(p, {x, ivec({2}, {big, 0})}, 19).has_value());
  EXPECT_FALSE(run_single_op(p, {x, ivec({2}, {-3, -3})}, 19).has_value());
}

}  // namespace
}  // namespace ferry::test
