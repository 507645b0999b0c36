// Importer robustness: malformed TensorProto/ModelProto bytes give errors, never crashes or huge allocations.
#include "ir/onnx_import.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace ferry {

namespace {
// Hand-encoded TensorProto: dims (field 1, varint), data_type (field 2), raw_data (field 9).
std::string tensor_bytes(std::vector<uint64_t> dims, int dtype, const std::string& raw) {
  std::string s;
  auto varint = [&](uint64_t v) {
    while (v >= 0x80) {
      s.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    s.push_back(static_cast<char>(v));
  };
  for (uint64_t d : dims) {
    s.push_back(0x08);
    varint(d);
  }
  s.push_back(0x10);
  varint(static_cast<uint64_t>(dtype));
  s.push_back(0x4A);
  varint(raw.size());
  s += raw;
  return s;
}
}  // namespace

TEST(OnnxImport, ParsesRawFloatTensor) {
  float v[2] = {1.5f, -2.0f};
  auto bytes = tensor_bytes({2}, 1, std::string(reinterpret_cast<char*>(v), 8));
  auto r = parse_tensor(bytes.data(), bytes.size());
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(r->tensor.shape(), (Shape{2}));
  EXPECT_EQ(r->tensor.data<float>()[1], -2.0f);
}

TEST(OnnxImport, UnpacksInt4) {
  auto bytes = tensor_bytes({3}, 22, std::string("\xF7\x01", 2));  // 7, -1, 1
  auto r = parse_tensor(bytes.data(), bytes.size());
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(r->tensor.data<int8_t>()[0], 7);
  EXPECT_EQ(r->tensor.data<int8_t>()[1], -1);
  EXPECT_EQ(r->tensor.data<int8_t>()[2], 1);
}

TEST(OnnxImport, HugeDimsWithoutDataAreRejectedBeforeAllocating) {
  auto bytes = tensor_bytes({100000, 100000}, 1, "abcd");  // 1e10 elements claimed, 4 bytes given
  auto r = parse_tensor(bytes.data(), bytes.size());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("raw_data holds 4 bytes"), std::string::npos) << r.status().message();
}

TEST(OnnxImport, UnknownElementType) {
  auto bytes = tensor_bytes({1}, 99, "a");
  auto r = parse_tensor(bytes.data(), bytes.size());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("unknown element type 99"), std::string::npos);
}

TEST(OnnxImport, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 256, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    (void)parse_tensor(s.data(), s.size());
    (void)parse_onnx_model(s.data(), s.size(), "");
  }
}

// Initializers take the lifted path (raw bytes copied once into the weight arena) or the ordinary one (bool,
// sub-byte, typed fields); every kind must come back bit for bit, and arena tensors must be 64-byte aligned.
TEST(OnnxImport, InitializersRoundTripThroughTheWeightArena) {
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.name = "g";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim(3)})};
  std::vector<float> big(3000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.25f - 7.f;
  g.initializers["big"] = Tensor::from_vector<float>(DType::kFloat, {1000, 3}, big);
  g.initializers["small"] = Tensor::from_vector<float>(DType::kFloat, {3}, {1.f, 2.f, 3.f});
  g.initializers["ints"] = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {-5, 1LL << 40});
  g.initializers["flag"] = Tensor::from_vector<bool>(DType::kBool, {2}, {true, false});
  g.initializers["nibbles"] = Tensor::from_vector<int8_t>(DType::kInt4, {3}, {7, -1, 1});
  g.initializers["empty"] = Tensor::empty(DType::kFloat, {0, 4});
  g.nodes.push_back(Node::make("Add", {"x", "small"}, {"y"}));
  g.outputs = {"y"};
  std::string path = ::testing::TempDir() + "/ferry_import_roundtrip.onnx";
  ASSERT_TRUE(save_onnx_model(m, path).is_ok());
  auto r = load_onnx_model(path);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  const auto& in = r->graph.initializers;
  ASSERT_EQ(in.size(), 6u);
  for (const auto& [name, t] : g.initializers) {
    const Tensor& u = in.at(name);
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    EXPECT_EQ(u.shape(), t.shape()) << name;
    EXPECT_EQ(std::memcmp(u.raw_data(), t.raw_data(), t.nbytes()), 0) << name;
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(in.at("big").raw_data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(in.at("small").raw_data()) % 64, 0u);
  EXPECT_EQ(r->graph.type_of("big")->shape.to_string(), "[1000,3]");
  ASSERT_EQ(r->graph.nodes.size(), 1u);
  EXPECT_EQ(r->graph.nodes[0].inputs[1], "small");
}

TEST(OnnxImport, TruncatedModelBytesAreRejected) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs = {"x"};
  m.graph.initializers["w"] = Tensor::zeros(DType::kFloat, {64, 64});
  m.graph.nodes.push_back(Node::make("Add", {"x", "w"}, {"y"}));
  m.graph.outputs = {"y"};
  std::string path = ::testing::TempDir() + "/ferry_import_truncated.onnx";
  ASSERT_TRUE(save_onnx_model(m, path).is_ok());
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{7}}) {
    auto r = parse_onnx_model(bytes.data(), cut, "");
    EXPECT_FALSE(r.has_value()) << cut;
  }
}

TEST(OnnxImport, MissingModelFile) {
  auto r = load_onnx_model("/nonexistent/model.onnx");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace ferry
