// Unit tests of the serving core without sockets: config.pbtxt parsing, version policy, the KServe codec and
// ServerCore on a temporary repository holding tests/fixtures/tiny_add.onnx and demo_cnn.onnx.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "serve/http_codec.h"
#include "serve/http_routes.h"
#include "serve/model_config.h"
#include "serve/model_repository.h"
#include "serve/server_core.h"

namespace ferry::serve {
namespace {

namespace fs = std::filesystem;

std::string fixtures() {
  for (const char* p : {"tests/fixtures", "../tests/fixtures", "../../tests/fixtures"})
    if (fs::exists(fs::path(p) / "tiny_add.onnx")) return p;
  return "tests/fixtures";
}

TEST(ModelConfig, ParsesTritonSubset) {
  auto c = parse_model_config_text(R"(
name: "m" platform: "onnxruntime_onnx" max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] } ]
output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] } ]
dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 100
  default_queue_policy { default_timeout_microseconds: 5000 max_queue_size: 7 } }
instance_group [ { count: 2 kind: KIND_CPU }, { count: 1 } ]
version_policy { latest { num_versions: 2 } }
parameters { key: "threads" value { string_value: "3" } })", "cfg.pbtxt", "m");
  ASSERT_TRUE(c) << c.status().to_string();
  EXPECT_EQ(c->max_batch_size, 8);
  EXPECT_EQ(c->inputs[0].dtype, DType::kFloat);
  EXPECT_EQ(c->inputs[0].dims, (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(c->outputs[0].dtype, DType::kInt64);
  EXPECT_EQ(c->preferred_batch_sizes, (std::vector<int>{2, 4}));
  EXPECT_EQ(c->queue_timeout_us, 5000);
  EXPECT_EQ(c->max_queue_size, 7);
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_EQ(c->threads, 3);
  EXPECT_EQ(select_versions({1, 2, 5}, *c), (std::vector<int64_t>{2, 5}));
}

TEST(ModelConfig, UnknownFieldNamesFieldAndFile) {
  auto c = parse_model_config_text("name: \"m\"\nbogus_field: 1\n", "repo/m/config.pbtxt", "m");
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("bogus_field"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("repo/m/config.pbtxt:2"), std::string::npos) << c.status().message();
}

TEST(ModelConfig, RejectsBadValues) {
  EXPECT_FALSE(parse_model_config_text("name: \"other\"", "f", "m"));
  EXPECT_FALSE(parse_model_config_text("max_batch_size: 2 dynamic_batching { preferred_batch_size: 4 }", "f", "m"));
  EXPECT_FALSE(parse_model_config_text("instance_group [ { kind: KIND_CPU gpus: [ 0 ] } ]", "f", "m"));
  EXPECT_FALSE(parse_model_config_text("platform: \"tensorflow_savedmodel\"", "f", "m"));
}

TEST(HttpCodec, JsonAndBinaryRoundTrip) {
  auto d = decode_infer_request(R"({"id":"a","inputs":[{"name":"x","datatype":"INT32","shape":[2,2],"data":[[1,2],[3,4]]}],
                                   "outputs":[{"name":"y","parameters":{"binary_data":true}}]})", -1, "m", "");
  ASSERT_TRUE(d) << d.status().to_string();
  EXPECT_EQ(d->request.inputs[0].tensor.data<int32_t>()[3], 4);
  EXPECT_TRUE(d->binary.wants("y"));
  std::string head = R"({"inputs":[{"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]})";
  std::string body = head + std::string("\x03\0\0\0abc\x00\0\0\0", 11);
  auto b = decode_infer_request(body, static_cast<int64_t>(head.size()), "m", "");
  ASSERT_TRUE(b) << b.status().to_string();
  EXPECT_EQ(b->request.inputs[0].tensor.data<std::string>()[0], "abc");
  EXPECT_EQ(b->request.inputs[0].tensor.data<std::string>()[1], "");
  InferResponse r;
  r.model_name = "m";
  r.outputs.push_back({"y", Tensor::from_vector<float>(DType::kFloat, {2}, {1.5f, 2.5f})});
  EncodedBody e = encode_infer_response(r, BinaryOutputs{true, {}});
  EXPECT_EQ(e.body.size() - static_cast<size_t>(e.json_length), 8u);
}

TEST(HttpCodec, HostileBodies) {
  for (const char* bad : {"", "{", "[]", "{\"inputs\":3}", "{\"inputs\":[{\"name\":1}]}",
                          "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[true]}]}",
                          "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT8\",\"shape\":[1],\"data\":[300]}]}",
                          "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1099511627776],\"data\":[]}]}"}) {
    auto d = decode_infer_request(bad, -1, "m", "");
    EXPECT_FALSE(d) << bad;
  }
  EXPECT_TRUE(json_too_deep(std::string(1000, '['), kMaxJsonDepth));
  EXPECT_FALSE(json_too_deep("[\"[[[[\"]", 2));
}

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ferry_serve_test_" + std::to_string(::getpid()));
    fs::create_directories(root_ / "tiny_add" / "1");
    fs::copy_file(fixtures() + "/tiny_add.onnx", root_ / "tiny_add" / "1" / "model.onnx");
    fs::create_directories(root_ / "cnn" / "1");
    fs::copy_file(fixtures() + "/demo_cnn.onnx", root_ / "cnn" / "1" / "model.onnx");
    std::ofstream(root_ / "cnn" / "config.pbtxt")
        << "max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 20000 preferred_batch_size: 4 }\n";
    ServerOptions o;
    o.repository = root_.string();
    o.control_mode = ModelControlMode::kExplicit;
    o.startup_models = {"*"};
    auto c = ServerCore::create(o);
    ASSERT_TRUE(c) << c.status().to_string();
    core_ = std::move(c).value();
  }
  void TearDown() override {
    core_.reset();
    fs::remove_all(root_);
  }
  fs::path root_;
  std::unique_ptr<ServerCore> core_;
};

TEST_F(CoreTest, InferAndErrors) {
  ASSERT_TRUE(core_->ready());
  InferRequest req;
  req.model_name = "tiny_add";
  req.inputs.push_back({"x", Tensor::from_vector<float>(DType::kFloat, {2, 3}, {1, 1, 1, 1, 1, 1})});
  InferResponse r = core_->infer(req).get();
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.outputs[0].tensor.data<float>()[5], 6.0f);
  req.inputs[0].tensor = Tensor::from_vector<int64_t>(DType::kInt64, {2, 3}, {1, 1, 1, 1, 1, 1});
  r = core_->infer(req).get();
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  req.model_name = "nope";
  EXPECT_EQ(core_->infer(req).get().status.code(), StatusCode::kNotFound);
}

TEST_F(CoreTest, DynamicBatcherMergesRequests) {
  std::vector<std::future<InferResponse>> fs;
  for (int i = 0; i < 4; ++i) {
    InferRequest req;
    req.model_name = "cnn";
    req.inputs.push_back({"image", Tensor::zeros(DType::kFloat, {1, 3, 32, 32})});
    fs.push_back(core_->infer(std::move(req)));
  }
  for (auto& f : fs) {
    InferResponse r = f.get();
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    EXPECT_EQ(r.outputs[0].tensor.shape(), (Shape{1, 10}));
  }
  auto stats = core_->statistics_json("cnn", "");
  ASSERT_TRUE(stats);
  // 4 requests of 1 sample, preferred size 4 within a 20 ms window: fewer executions than requests.
  EXPECT_NE(stats->find("\"inference_count\":4"), std::string::npos) << *stats;
  EXPECT_EQ(stats->find("\"execution_count\":4"), std::string::npos) << *stats;
}

TEST_F(CoreTest, UnloadAndRoutes) {
  HttpReply rep;
  EXPECT_TRUE(handle_http_request(*core_, "GET", "/v2/health/ready", -1, "", 0, rep, nullptr));
  EXPECT_EQ(rep.status, 200);
  ASSERT_TRUE(core_->unload_model("tiny_add").is_ok());
  EXPECT_FALSE(core_->model_ready("tiny_add", ""));
  HttpReply r2;
  handle_http_request(*core_, "GET", "/v2/models/tiny_add/ready", -1, "", 0, r2, nullptr);
  EXPECT_EQ(r2.status, 400);
  ASSERT_TRUE(core_->load_model("tiny_add").is_ok());
  EXPECT_TRUE(core_->model_ready("tiny_add", "1"));
}

}  // namespace
}  // namespace ferry::serve
