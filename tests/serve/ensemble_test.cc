// Ensembles and built-in steps: values of each step (resize, crop, normalize, softmax, top-k, NMS), broken ensemble
// configs (unknown step model, cycle, unmapped tensor), and an end-to-end classification of a generated PNG through
// an ensemble over HTTP (in-process ServerCore + HttpServer on loopback).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "serve/ensemble.h"
#include "serve/ensemble_steps.h"
#include "serve/http_server.h"
#include "serve/model_config.h"
#include "serve/server_core.h"

namespace ferry::serve {
namespace {

namespace fs = std::filesystem;

std::string fixtures() {
  for (const char* p : {"tests/fixtures", "../tests/fixtures", "../../tests/fixtures"})
    if (fs::exists(fs::path(p) / "demo_cnn.onnx")) return p;
  return "tests/fixtures";
}

Tensor image(int64_t h, int64_t w, int64_t c, const std::vector<uint8_t>& px) {
  return Tensor::from_vector<uint8_t>(DType::kUInt8, {h, w, c}, px);
}

// ------------------------------------------------------------------------------------------------ steps
TEST(EnsembleSteps, ResizeBilinearHalfPixel) {
  // 1x2 gray -> 1x4: half-pixel centers give 0, 25 (0.25 of the way), 75, 100.
  Tensor r = resize_bilinear_hwc(image(1, 2, 1, {0, 100}), 1, 4);
  ASSERT_EQ(r.shape(), (Shape{1, 4, 1}));
  EXPECT_EQ(std::vector<uint8_t>(r.data<uint8_t>(), r.data<uint8_t>() + 4), (std::vector<uint8_t>{0, 25, 75, 100}));
  // Downscale 2x2 -> 1x1 averages.
  Tensor d = resize_bilinear_hwc(image(2, 2, 1, {0, 100, 100, 200}), 1, 1);
  EXPECT_EQ(d.data<uint8_t>()[0], 100);
  // Identity size keeps values.
  Tensor i = resize_bilinear_hwc(image(2, 2, 1, {1, 2, 3, 4}), 2, 2);
  EXPECT_EQ(i.data<uint8_t>()[3], 4);
}

TEST(EnsembleSteps, CenterCrop) {
  std::vector<uint8_t> px(16);
  for (int i = 0; i < 16; ++i) px[i] = static_cast<uint8_t>(i);
  Tensor c = center_crop_hwc(image(4, 4, 1, px), 2, 2);
  ASSERT_EQ(c.shape(), (Shape{2, 2, 1}));
  EXPECT_EQ(std::vector<uint8_t>(c.data<uint8_t>(), c.data<uint8_t>() + 4), (std::vector<uint8_t>{5, 6, 9, 10}));
}

TEST(EnsembleSteps, NormalizeToChw) {
  // 1x2 RGB: pixels (255,0,51) and (0,255,102).
  Tensor n = normalize_hwc(image(1, 2, 3, {255, 0, 51, 0, 255, 102}), {0.5f, 0.5f, 0.f}, {0.5f, 0.25f, 1.f}, 255.f, true);
  ASSERT_EQ(n.shape(), (Shape{3, 1, 2}));
  const float* p = n.data<float>();
  EXPECT_FLOAT_EQ(p[0], 1.f);    // R of px0: (1 - .5) / .5
  EXPECT_FLOAT_EQ(p[1], -1.f);   // R of px1
  EXPECT_FLOAT_EQ(p[2], -2.f);   // G of px0: (0 - .5) / .25
  EXPECT_FLOAT_EQ(p[3], 2.f);
  EXPECT_FLOAT_EQ(p[4], 0.2f);   // B of px0
  EXPECT_FLOAT_EQ(p[5], 0.4f);
  Tensor h = normalize_hwc(image(1, 2, 3, {255, 0, 51, 0, 255, 102}), {}, {}, 1.f, false);
  EXPECT_EQ(h.shape(), (Shape{1, 2, 3}));
  EXPECT_FLOAT_EQ(h.data<float>()[2], 51.f);
}

TEST(EnsembleSteps, SoftmaxRows) {
  Tensor s = softmax_last_axis(Tensor::from_vector<float>(DType::kFloat, {2, 3}, {1, 2, 3, 1000, 1000, 1000}));
  const float* p = s.data<float>();
  float e = std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  EXPECT_NEAR(p[0], std::exp(1.f) / e, 1e-6);
  EXPECT_NEAR(p[2], std::exp(3.f) / e, 1e-6);
  EXPECT_NEAR(p[4], 1.f / 3, 1e-6);  // large logits do not overflow
}

TEST(EnsembleSteps, TopkDescendingStableTies) {
  Tensor idx, val;
  topk_last_axis(Tensor::from_vector<float>(DType::kFloat, {1, 5}, {0.1f, 0.5f, 0.2f, 0.5f, 0.05f}), 3, &idx, &val);
  ASSERT_EQ(idx.shape(), (Shape{1, 3}));
  EXPECT_EQ(std::vector<int64_t>(idx.data<int64_t>(), idx.data<int64_t>() + 3), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_FLOAT_EQ(val.data<float>()[2], 0.2f);
  topk_last_axis(Tensor::from_vector<float>(DType::kFloat, {2}, {1, 2}), 10, &idx, &val);  // k clamps to C
  EXPECT_EQ(idx.shape(), (Shape{2}));
  EXPECT_EQ(idx.data<int64_t>()[0], 1);
}

TEST(EnsembleSteps, NmsPerClass) {
  // Boxes 0 and 1 overlap (IoU 0.68), box 2 is apart. Class 0 keeps 0 and 2; class 1 keeps only box 1 (> 0.3).
  Tensor boxes = Tensor::from_vector<float>(DType::kFloat, {3, 4}, {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30});
  Tensor scores = Tensor::from_vector<float>(DType::kFloat, {3, 2}, {0.9f, 0.1f, 0.8f, 0.7f, 0.6f, 0.2f});
  Tensor d = nms_detections(boxes, scores, 0.5f, 0.3f, 100);
  ASSERT_EQ(d.shape(), (Shape{3, 6}));
  const float* p = d.data<float>();
  EXPECT_FLOAT_EQ(p[4], 0.9f);
  EXPECT_FLOAT_EQ(p[5], 0.f);
  EXPECT_FLOAT_EQ(p[6], 1.f);    // second row: box 1, class 1, score 0.7
  EXPECT_FLOAT_EQ(p[10], 0.7f);
  EXPECT_FLOAT_EQ(p[11], 1.f);
  EXPECT_FLOAT_EQ(p[12], 20.f);  // third: box 2, class 0
  EXPECT_EQ(nms_detections(boxes, scores, 0.5f, 0.3f, 1).dim(0), 1);
  // IoU threshold 0.9 keeps the overlapping pair in class 0.
  EXPECT_EQ(nms_detections(boxes, scores, 0.9f, 0.3f, 100).dim(0), 4);
}

TEST(EnsembleSteps, FactoryErrorsNameTheModel) {
  ModelConfig c;
  c.name = "pre";
  c.platform = "ferry_builtin";
  auto s = make_builtin_step(c, ".");
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("'pre'"), std::string::npos);
  c.parameters["step"] = "warp";
  s = make_builtin_step(c, ".");
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("unknown built-in step 'warp'"), std::string::npos) << s.status().message();
  c.parameters["step"] = "image_resize";
  c.parameters["size"] = "abc";
  EXPECT_FALSE(make_builtin_step(c, "."));
  c.parameters["size"] = "256";
  c.parameters["crop"] = "224";
  EXPECT_TRUE(make_builtin_step(c, "."));
}

// ------------------------------------------------------------------------------------- broken ensembles
ModelConfig ensemble_cfg(const std::string& steps) {
  auto c = parse_model_config_text(R"(name: "e" platform: "ensemble"
input [ { name: "IN" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling { )" + steps + " }", "repo/e/config.pbtxt", "e");
  EXPECT_TRUE(c) << c.status().to_string();
  return c ? *c : ModelConfig{};
}

TEST(Ensemble, ValidOrderIsTopological) {
  auto c = ensemble_cfg(R"(step [
    { model_name: "b" input_map { key: "x" value: "MID" } output_map { key: "y" value: "OUT" } },
    { model_name: "a" input_map { key: "x" value: "IN" } output_map { key: "y" value: "MID" } } ])");
  auto order = validate_ensemble(c, "repo/e/config.pbtxt", [](const std::string&) { return true; });
  ASSERT_TRUE(order) << order.status().to_string();
  EXPECT_EQ(*order, (std::vector<size_t>{1, 0}));
}

TEST(Ensemble, UnknownStepModel) {
  auto c = ensemble_cfg(R"(step [ { model_name: "nope" input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } } ])");
  auto r = validate_ensemble(c, "repo/e/config.pbtxt", [](const std::string& m) { return m != "nope"; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("repo/e/config.pbtxt"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("step 1 ('nope')"), std::string::npos) << r.status().message();
}

TEST(Ensemble, Cycle) {
  auto c = ensemble_cfg(R"(step [
    { model_name: "a" input_map { key: "x" value: "IN" } input_map { key: "z" value: "T2" } output_map { key: "y" value: "T1" } },
    { model_name: "b" input_map { key: "x" value: "T1" } output_map { key: "y" value: "T2" } },
    { model_name: "c" input_map { key: "x" value: "T1" } output_map { key: "y" value: "OUT" } } ])");
  auto r = validate_ensemble(c, "repo/e/config.pbtxt", [](const std::string&) { return true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("cycle through steps 1 ('a'), 2 ('b'), 3 ('c')"), std::string::npos)
      << r.status().message();
}

TEST(Ensemble, UnmappedTensor) {
  auto c = ensemble_cfg(R"(step [ { model_name: "a" input_map { key: "x" value: "MISSING" } output_map { key: "y" value: "OUT" } } ])");
  auto r = validate_ensemble(c, "repo/e/config.pbtxt", [](const std::string&) { return true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("step 1 ('a'): input 'x' reads tensor 'MISSING'"), std::string::npos) << r.status().message();
  auto c2 = ensemble_cfg(R"(step [ { model_name: "a" input_map { key: "x" value: "IN" } output_map { key: "y" value: "OTHER" } } ])");
  r = validate_ensemble(c2, "repo/e/config.pbtxt", [](const std::string&) { return true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("ensemble output 'OUT' is not produced"), std::string::npos) << r.status().message();
}

// -------------------------------------------------------------------------------------------- end to end
uint32_t crc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An 8-bit RGB PNG with stored (uncompressed) deflate blocks.
std::string make_png(int w, int h, const std::vector<uint8_t>& rgb) {
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.append(reinterpret_cast<const char*>(rgb.data()) + y * w * 3, static_cast<size_t>(w * 3));
  }
  std::string z = "\x78\x01";
  for (size_t p = 0; p < raw.size(); p += 65535) {
    size_t n = std::min<size_t>(65535, raw.size() - p);
    z.push_back(p + n == raw.size() ? 1 : 0);
    z.push_back(static_cast<char>(n & 255));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 255));
    z.push_back(static_cast<char>((~n >> 8) & 255));
    z += raw.substr(p, n);
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  z += be32((b << 16) | a);
  auto chunk = [](const std::string& type, const std::string& body) {
    return be32(static_cast<uint32_t>(body.size())) + type + body + be32(crc32(type + body));
  };
  std::string ihdr = be32(static_cast<uint32_t>(w)) + be32(static_cast<uint32_t>(h)) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", "");
}

std::string http_post(int port, const std::string& path, const std::string& headers, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, 0);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return resp;
}

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

TEST(Ensemble, ClassifiesPngOverHttp) {
  fs::path repo = fs::temp_directory_path() / ("ferry_ensemble_" + std::to_string(::getpid()));
  fs::remove_all(repo);
  fs::create_directories(repo / "demo_cnn" / "1");
  fs::copy_file(fs::path(fixtures()) / "demo_cnn.onnx", repo / "demo_cnn" / "1" / "model.onnx");
  std::string labels;
  for (int i = 0; i < 10; ++i) labels += "class_" + std::to_string(i) + "\n";
  write(repo / "postprocess" / "labels.txt", labels);
  write(repo / "decode" / "config.pbtxt", R"(platform: "ferry_builtin" parameters { key: "step" value { string_value: "image_decode" } })");
  write(repo / "preprocess" / "config.pbtxt", R"(platform: "ferry_builtin"
parameters { key: "step" value { string_value: "image_resize" } }
parameters { key: "size" value { string_value: "36" } }
parameters { key: "crop" value { string_value: "32" } })");
  write(repo / "normalize" / "config.pbtxt", R"(platform: "ferry_builtin"
parameters { key: "step" value { string_value: "image_normalize" } }
parameters { key: "mean" value { string_value: "0.485,0.456,0.406" } }
parameters { key: "std" value { string_value: "0.229,0.224,0.225" } })");
  write(repo / "postprocess" / "config.pbtxt", R"(platform: "ferry_builtin"
input [ { name: "SCORES" data_type: TYPE_FP32 dims: [ 1, 10 ] } ]
output [ { name: "INDICES" dims: [ 1, 5 ] }, { name: "VALUES" dims: [ 1, 5 ] }, { name: "LABELS" dims: [ 1, 5 ] } ]
parameters { key: "step" value { string_value: "topk" } }
parameters { key: "k" value { string_value: "5" } }
parameters { key: "labels" value { string_value: "labels.txt" } })");
  write(repo / "classify" / "config.pbtxt", R"(name: "classify" platform: "ensemble"
input [ { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "CLASSES" data_type: TYPE_STRING dims: [ 1, 5 ] },
         { name: "SCORES" data_type: TYPE_FP32 dims: [ 1, 5 ] },
         { name: "CLASS_IDS" data_type: TYPE_INT64 dims: [ 1, 5 ] } ]
ensemble_scheduling { step [
  { model_name: "decode" input_map { key: "BYTES" value: "IMAGE" } output_map { key: "IMAGE" value: "pixels" } },
  { model_name: "preprocess" input_map { key: "IMAGE" value: "pixels" } output_map { key: "RESIZED" value: "small" } },
  { model_name: "normalize" input_map { key: "IMAGE" value: "small" } output_map { key: "TENSOR" value: "tensor" } },
  { model_name: "demo_cnn" input_map { key: "image" value: "tensor" } output_map { key: "probs" value: "probs" } },
  { model_name: "postprocess" input_map { key: "SCORES" value: "probs" }
    output_map { key: "LABELS" value: "CLASSES" } output_map { key: "VALUES" value: "SCORES" }
    output_map { key: "INDICES" value: "CLASS_IDS" } } ] })");
  // Broken ensembles sit next to it: they fail to load with a reason naming the file and step, the rest loads.
  write(repo / "broken_cycle" / "config.pbtxt", R"(platform: "ensemble"
input [ { name: "I" data_type: TYPE_FP32 dims: [ 1 ] } ] output [ { name: "O" data_type: TYPE_FP32 dims: [ 1 ] } ]
ensemble_scheduling { step [
  { model_name: "softmax_a" input_map { key: "LOGITS" value: "O" } output_map { key: "PROBS" value: "T" } },
  { model_name: "softmax_a" input_map { key: "LOGITS" value: "T" } output_map { key: "PROBS" value: "O" } } ] })");
  write(repo / "softmax_a" / "config.pbtxt", R"(platform: "ferry_builtin"
input [ { name: "LOGITS" data_type: TYPE_FP32 dims: [ 1 ] } ] output [ { name: "PROBS" data_type: TYPE_FP32 dims: [ 1 ] } ]
parameters { key: "step" value { string_value: "softmax" } })");
  write(repo / "broken_missing" / "config.pbtxt", R"(platform: "ensemble"
input [ { name: "I" data_type: TYPE_FP32 dims: [ 1 ] } ] output [ { name: "O" data_type: TYPE_FP32 dims: [ 1 ] } ]
ensemble_scheduling { step [ { model_name: "ghost" input_map { key: "X" value: "I" } output_map { key: "Y" value: "O" } } ] })");

  ServerOptions opts;
  opts.repository = repo.string();
  opts.strict_readiness = false;
  auto core = ServerCore::create(opts);
  ASSERT_TRUE(core) << core.status().to_string();
  for (const auto& row : (*core)->repository_index(false)) {
    if (row.name == "broken_cycle") {
      EXPECT_EQ(row.state, ModelState::kUnavailable);
      EXPECT_NE(row.reason.find("broken_cycle/config.pbtxt"), std::string::npos) << row.reason;
      EXPECT_NE(row.reason.find("cycle through steps 1 ('softmax_a'), 2 ('softmax_a')"), std::string::npos) << row.reason;
    } else if (row.name == "broken_missing") {
      EXPECT_NE(row.reason.find("step 1 ('ghost'): model 'ghost' is not in the repository"), std::string::npos) << row.reason;
    } else {
      EXPECT_EQ(row.state, ModelState::kReady) << row.name << ": " << row.reason;
    }
  }
  auto md = (*core)->model_metadata("classify", "");
  ASSERT_TRUE(md) << md.status().to_string();
  EXPECT_EQ(md->platform, "ensemble");

  // A 40x48 gradient image.
  const int w = 48, h = 40;
  std::vector<uint8_t> rgb(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = rgb.data() + (y * w + x) * 3;
      p[0] = static_cast<uint8_t>(x * 5), p[1] = static_cast<uint8_t>(y * 6), p[2] = static_cast<uint8_t>((x + y) * 2);
    }
  std::string png = make_png(w, h, rgb);

  // Reference: the same pipeline by hand, then demo_cnn through the core.
  Tensor img = image(h, w, 3, rgb);
  Tensor small = center_crop_hwc(resize_bilinear_hwc(img, 36, 43), 32, 32);  // shorter side 40 -> 36: 48 -> 43
  Tensor x = normalize_hwc(small, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 255.f, true).reshaped({1, 3, 32, 32});
  InferRequest ref;
  ref.model_name = "demo_cnn";
  ref.inputs.push_back({"image", x});
  InferResponse rr = (*core)->infer(std::move(ref)).get();
  ASSERT_TRUE(rr.status.is_ok()) << rr.status.to_string();
  Tensor ridx, rval;
  topk_last_axis(rr.outputs[0].tensor, 5, &ridx, &rval);

  HttpOptions ho;
  ho.address = "127.0.0.1";
  ho.port = 0;
  HttpServer http(**core, ho);
  auto port = http.start();
  ASSERT_TRUE(port) << port.status().to_string();
  std::string len_prefix(4, '\0');
  uint32_t n = static_cast<uint32_t>(png.size());
  std::memcpy(len_prefix.data(), &n, 4);  // little-endian length of the BYTES element
  std::string header = nlohmann::json{{"inputs", {{{"name", "IMAGE"}, {"datatype", "BYTES"}, {"shape", {1}},
                                                   {"parameters", {{"binary_data_size", png.size() + 4}}}}}}}.dump();
  std::string resp = http_post(*port, "/v2/models/classify/infer",
                               "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
                                   std::to_string(header.size()) + "\r\n",
                               header + len_prefix + png);
  ASSERT_NE(resp.find("200 OK"), std::string::npos) << resp;
  auto body = nlohmann::json::parse(resp.substr(resp.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << resp;
  std::map<std::string, nlohmann::json> outs;
  for (const auto& o : body["outputs"]) outs[o["name"].get<std::string>()] = o;
  ASSERT_EQ(outs.size(), 3u) << resp;
  EXPECT_EQ(outs["CLASSES"]["shape"], nlohmann::json({1, 5}));
  for (int i = 0; i < 5; ++i) {
    int64_t c = ridx.data<int64_t>()[i];
    EXPECT_EQ(outs["CLASS_IDS"]["data"][i].get<int64_t>(), c);
    EXPECT_EQ(outs["CLASSES"]["data"][i].get<std::string>(), "class_" + std::to_string(c));
    EXPECT_NEAR(outs["SCORES"]["data"][i].get<float>(), rval.data<float>()[i], 1e-5);
  }

  // A corrupt image fails with the step named; the statistics count the ensemble and the step models.
  std::string bad = "not an image";
  uint32_t bn = static_cast<uint32_t>(bad.size());
  std::memcpy(len_prefix.data(), &bn, 4);
  std::string bh = nlohmann::json{{"inputs", {{{"name", "IMAGE"}, {"datatype", "BYTES"}, {"shape", {1}},
                                               {"parameters", {{"binary_data_size", bad.size() + 4}}}}}}}.dump();
  resp = http_post(*port, "/v2/models/classify/infer",
                   "Inference-Header-Content-Length: " + std::to_string(bh.size()) + "\r\n", bh + len_prefix + bad);
  EXPECT_NE(resp.find("400"), std::string::npos) << resp;
  EXPECT_NE(resp.find("step 1 ('decode')"), std::string::npos) << resp;
  auto stats = nlohmann::json::parse(*(*core)->statistics_json("classify", ""));
  EXPECT_EQ(stats["model_stats"][0]["inference_stats"]["success"]["count"], 1);
  EXPECT_EQ(stats["model_stats"][0]["inference_stats"]["fail"]["count"], 1);
  auto dstats = nlohmann::json::parse(*(*core)->statistics_json("decode", ""));
  EXPECT_EQ(dstats["model_stats"][0]["inference_stats"]["success"]["count"], 1);
  auto cfg = (*core)->model_config_json("classify", "");
  ASSERT_TRUE(cfg);
  EXPECT_NE(cfg->find("ensemble_scheduling"), std::string::npos);

  http.stop_accepting();
  (*core)->shutdown(5000);
  http.stop(1000);
  fs::remove_all(repo);
}


TEST(Ensemble, ParallelBranchesUnderConcurrency) {
  fs::path repo = fs::temp_directory_path() / ("ferry_ensemble_dag_" + std::to_string(::getpid()));
  fs::remove_all(repo);
  write(repo / "sm" / "config.pbtxt", R"(platform: "ferry_builtin"
input [ { name: "LOGITS" data_type: TYPE_FP32 dims: [ 4 ] } ] output [ { name: "PROBS" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { count: 2 } ]
parameters { key: "step" value { string_value: "softmax" } })");
  write(repo / "top2" / "config.pbtxt", R"(platform: "ferry_builtin"
input [ { name: "SCORES" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "INDICES" data_type: TYPE_INT64 dims: [ 2 ] }, { name: "VALUES" data_type: TYPE_FP32 dims: [ 2 ] } ]
parameters { key: "step" value { string_value: "topk" } } parameters { key: "k" value { string_value: "2" } })");
  // IN -> sm -> P -> top2 -> (I1, V1);  IN -> top2 -> I2 (a branch parallel to sm).
  write(repo / "dag" / "config.pbtxt", R"(platform: "ensemble"
input [ { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "I1" data_type: TYPE_INT64 dims: [ 2 ] }, { name: "V1" data_type: TYPE_FP32 dims: [ 2 ] },
         { name: "I2" data_type: TYPE_INT64 dims: [ 2 ] } ]
ensemble_scheduling { step [
  { model_name: "top2" input_map { key: "SCORES" value: "P" } output_map { key: "INDICES" value: "I1" } output_map { key: "VALUES" value: "V1" } },
  { model_name: "sm" input_map { key: "LOGITS" value: "IN" } output_map { key: "PROBS" value: "P" } },
  { model_name: "top2" input_map { key: "SCORES" value: "IN" } output_map { key: "INDICES" value: "I2" } } ] })");
  ServerOptions opts;
  opts.repository = repo.string();
  auto core = ServerCore::create(opts);
  ASSERT_TRUE(core) << core.status().to_string();
  ASSERT_TRUE((*core)->ready());
  std::vector<std::future<InferResponse>> fs;
  for (int i = 0; i < 64; ++i) {
    InferRequest r;
    r.model_name = "dag";
    float b = static_cast<float>(i % 4);
    r.inputs.push_back({"IN", Tensor::from_vector<float>(DType::kFloat, {4}, {0.f, 1.f, 2.f, b + 0.5f})});
    r.outputs = {"V1", "I1", "I2"};
    fs.push_back((*core)->infer(std::move(r)));
  }
  for (int i = 0; i < 64; ++i) {
    InferResponse res = fs[static_cast<size_t>(i)].get();
    ASSERT_TRUE(res.status.is_ok()) << res.status.to_string();
    ASSERT_EQ(res.outputs.size(), 3u);
    EXPECT_EQ(res.outputs[0].name, "V1");
    int64_t top = i % 4 >= 2 ? 3 : 2;  // 2.5 and 3.5 beat 2
    EXPECT_EQ(res.outputs[1].tensor.data<int64_t>()[0], top) << i;
    EXPECT_EQ(res.outputs[2].tensor.data<int64_t>()[0], top) << i;
    float e = std::exp(0.f) + std::exp(1.f) + std::exp(2.f) + std::exp(static_cast<float>(i % 4) + 0.5f);
    EXPECT_NEAR(res.outputs[0].tensor.data<float>()[0], std::exp(top == 3 ? static_cast<float>(i % 4) + 0.5f : 2.f) / e, 1e-5);
  }
  // A wrong input shape is rejected by the ensemble's own config, before any step runs.
  InferRequest bad;
  bad.model_name = "dag";
  bad.inputs.push_back({"IN", Tensor::from_vector<float>(DType::kFloat, {3}, {1, 2, 3})});
  InferResponse br = (*core)->infer(std::move(bad)).get();
  EXPECT_EQ(br.status.code(), StatusCode::kInvalidArgument);
  (*core)->shutdown(5000);
  fs::remove_all(repo);
}

}  // namespace
}  // namespace ferry::serve
