// Importer robustness: malformed TensorProto/ModelProto bytes give errors, never crashes or huge allocations.
#include "ir/onnx_import.h"

#include <gtest/gtest.h>

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

TEST(OnnxImport, MissingModelFile) {
  auto r = load_onnx_model("/nonexistent/model.onnx");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace ferry
