// image_test.cc — ImageDecoder on tiny hand-built BMP, PNM, TIFF and PNG files, plus corrupt input.
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor bytes(std::vector<uint8_t> v) {
  return Tensor::from_vector<uint8_t>(DType::kUInt8, {static_cast<int64_t>(v.size())}, v);
}
Tensor u8(Shape s, std::vector<uint8_t> v) { return Tensor::from_vector<uint8_t>(DType::kUInt8, std::move(s), v); }
void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(x >> (8 * i));
}

Expected<std::vector<Tensor>> decode(const Tensor& data, const std::string& fmt) {
  Node n = Node::make("ImageDecoder", {"d"}, {"y"});
  n.attrs["pixel_format"] = attr_s(fmt);
  return run_single_op(n, {data}, 20);
}

// 2x2 24-bit bottom-up BMP: top row red, green; bottom row blue, white.
std::vector<uint8_t> tiny_bmp() {
  std::vector<uint8_t> v(54 + 16, 0);
  v[0] = 'B';
  v[1] = 'M';
  put32(v, 2, static_cast<uint32_t>(v.size()));
  put32(v, 10, 54);
  put32(v, 14, 40);
  put32(v, 18, 2);
  put32(v, 22, 2);
  v[26] = 1;
  v[28] = 24;
  const uint8_t px[16] = {255, 0, 0, 255, 255, 255, 0, 0,   // bottom row (BGR): blue, white, pad
                          0, 0, 255, 0, 255, 0, 0, 0};      // top row: red, green, pad
  std::copy(px, px + 16, v.begin() + 54);
  return v;
}

TEST(ImageOps, BmpRgbBgrGray) {
  auto out = decode(bytes(tiny_bmp()), "RGB");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({2, 2, 3}, {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}));
  out = decode(bytes(tiny_bmp()), "BGR");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({2, 2, 3}, {0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255}));
  out = decode(bytes(tiny_bmp()), "Grayscale");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // Pillow's L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
  expect_near((*out)[0], u8({2, 2, 1}, {76, 150, 29, 255}));
}

TEST(ImageOps, PnmBinaryAndAscii) {
  std::string p6 = "P6\n# c\n2 1\n255\n";
  std::vector<uint8_t> v(p6.begin(), p6.end());
  for (uint8_t b : {1, 2, 3, 4, 5, 6}) v.push_back(b);
  auto out = decode(bytes(v), "RGB");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({1, 2, 3}, {1, 2, 3, 4, 5, 6}));
  std::string p2 = "P2 3 1 15 0 15 5";
  out = decode(bytes(std::vector<uint8_t>(p2.begin(), p2.end())), "Grayscale");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({1, 3, 1}, {0, 255, 85}));
}

TEST(ImageOps, TiffUncompressedRgb) {
  // Little-endian, IFD at 8 with 8 entries, pixel data (1x2 RGB) at 110.
  std::vector<uint8_t> v(116, 0);
  v[0] = v[1] = 'I';
  v[2] = 42;
  put32(v, 4, 8);
  v[8] = 8;
  const uint32_t tags[8][3] = {{256, 3, 2}, {257, 3, 1}, {259, 3, 1}, {262, 3, 2},
                               {273, 4, 110}, {277, 3, 3}, {278, 3, 1}, {279, 4, 6}};
  for (int e = 0; e < 8; ++e) {
    size_t at = 10 + e * 12;
    v[at] = static_cast<uint8_t>(tags[e][0]);
    v[at + 1] = static_cast<uint8_t>(tags[e][0] >> 8);
    v[at + 2] = static_cast<uint8_t>(tags[e][1]);
    put32(v, at + 4, 1);
    put32(v, at + 8, tags[e][2]);
  }
  for (int i = 0; i < 6; ++i) v[110 + i] = static_cast<uint8_t>(10 * (i + 1));
  auto out = decode(bytes(v), "RGB");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({1, 2, 3}, {10, 20, 30, 40, 50, 60}));
}

TEST(ImageOps, PngStoredDeflateWithFilters) {
  // 2x2 gray PNG; rows use filters Sub and Up; zlib stream with one stored block.
  std::vector<uint8_t> raw = {1, 10, 5, 2, 1, 1};  // row0 Sub: 10, 15 ; row1 Up: 11, 16
  std::vector<uint8_t> z = {0x78, 0x01, 0x01, 6, 0, 0xF9, 0xFF};
  z.insert(z.end(), raw.begin(), raw.end());
  uint32_t a = 1, b = 0;
  for (uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  uint32_t adler = (b << 16) | a;
  for (int i = 3; i >= 0; --i) z.push_back(static_cast<uint8_t>(adler >> (8 * i)));
  std::vector<uint8_t> v = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& body) {
    for (int i = 3; i >= 0; --i) v.push_back(static_cast<uint8_t>(body.size() >> (8 * i)));
    v.insert(v.end(), type, type + 4);
    v.insert(v.end(), body.begin(), body.end());
    v.insert(v.end(), 4, 0);  // CRC (not checked)
  };
  chunk("IHDR", {0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0});
  chunk("IDAT", z);
  chunk("IEND", {});
  auto out = decode(bytes(v), "RGB");
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({2, 2, 3}, {10, 10, 10, 15, 15, 15, 11, 11, 11, 16, 16, 16}));
}

TEST(ImageOps, CorruptAndUnknownAreErrors) {
  std::vector<uint8_t> bmp = tiny_bmp();
  bmp.resize(60);  // truncated pixel data
  EXPECT_FALSE(decode(bytes(bmp), "RGB").has_value());
  EXPECT_FALSE(decode(bytes({1, 2, 3, 4}), "RGB").has_value());
  // A JP2 signature box followed by garbage, and a bare J2K marker.
  EXPECT_FALSE(decode(bytes({0, 0, 0, 12, 'j', 'P', ' ', ' ', 13, 10, 0x87, 10, 1, 2, 3}), "RGB").has_value());
  EXPECT_FALSE(decode(bytes({0xFF, 0x4F, 0xFF, 0x51, 0, 0}), "RGB").has_value());
  EXPECT_FALSE(decode(bytes({'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '}), "RGB").has_value());
  EXPECT_FALSE(decode(bytes(tiny_bmp()), "YUV").has_value());
}

}  // namespace
}  // namespace ferry::test
