// calibrate_test.cc — calibrator thresholds on known histograms, weight quantization, QDQ on demo_cnn.onnx.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ir/onnx_import.h"
#include "quant/calib_data.h"
#include "quant/quantize.h"

namespace ferry::quant {
namespace {

TEST(QuantCalib, MinMaxObserver) {
  Observer o;
  std::vector<float> x = {-2.0f, 0.5f, 3.0f, NAN};
  o.observe_minmax(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_FLOAT_EQ(o.lo(), -2.0f);
  EXPECT_FLOAT_EQ(o.hi(), 3.0f);
  Range sym = o.range(CalibMethod::kMinMax, 99.99, true);
  EXPECT_FLOAT_EQ(sym.lo, -3.0f);
  EXPECT_FLOAT_EQ(sym.hi, 3.0f);
  Range asym = o.range(CalibMethod::kMinMax, 99.99, false);
  EXPECT_FLOAT_EQ(asym.lo, -2.0f);
  EXPECT_FLOAT_EQ(asym.hi, 3.0f);
}

TEST(QuantCalib, PercentileOnUniformHistogram) {
  std::vector<double> h(100, 1.0);  // uniform over [0, 10]
  EXPECT_NEAR(percentile_threshold(h, 10.0, 50.0), 5.0, 1e-9);
  EXPECT_NEAR(percentile_threshold(h, 10.0, 99.0), 9.9, 1e-9);
  EXPECT_NEAR(percentile_threshold(h, 10.0, 100.0), 10.0, 1e-9);
}

TEST(QuantCalib, PercentileClipsOutlier) {
  std::vector<double> h(2048, 0.0);
  for (int i = 0; i < 200; ++i) h[static_cast<size_t>(i)] = 1000.0;
  h[2047] = 1.0;  // one outlier at absmax
  double t = percentile_threshold(h, 100.0, 99.99);
  EXPECT_LT(t, 10.0);
  EXPECT_GT(t, 9.0);
}

TEST(QuantCalib, EntropyIgnoresSparseOutliers) {
  // Gaussian-like mass in the first 10% of the range and a few outliers at the far end: KL picks a threshold
  // well below absmax but not below the bulk of the mass.
  std::vector<double> h(2048, 0.0);
  for (int i = 0; i < 2048; ++i) h[static_cast<size_t>(i)] = 1e6 * std::exp(-0.5 * std::pow(i / 60.0, 2));
  h[2000] += 3;
  double t = entropy_threshold(h, 2048.0);
  EXPECT_LT(t, 1000.0);
  EXPECT_GT(t, 150.0);
}

TEST(QuantCalib, EntropyKeepsUniformRange) {
  std::vector<double> h(2048, 5.0);
  EXPECT_GT(entropy_threshold(h, 1.0), 0.9);
}

TEST(QuantCalib, MseBetweenBulkAndMax) {
  std::vector<double> h(2048, 0.0);
  for (int i = 0; i < 256; ++i) h[static_cast<size_t>(i)] = 10000.0;  // the bulk outweighs one clipped outlier
  h[2047] = 1.0;
  double t = mse_threshold(h, 8.0);
  EXPECT_LT(t, 4.0);
  EXPECT_GE(t, 0.9);
}

TEST(QuantWeights, PerChannelScales) {
  Tensor w = Tensor::from_vector<float>(DType::kFloat, {2, 3}, {1, -2, 0.5f, 10, 5, -10});
  auto q = quantize_weight(w, true, 0);
  ASSERT_TRUE(q.has_value()) << q.status().to_string();
  EXPECT_NEAR(q->scale.data<float>()[0], 2.0f / 127, 1e-7);
  EXPECT_NEAR(q->scale.data<float>()[1], 10.0f / 127, 1e-7);
  EXPECT_EQ(q->q.data<int8_t>()[1], -127);
  EXPECT_EQ(q->q.data<int8_t>()[5], -127);
  auto t = quantize_weight(w, false, 0);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->scale.rank(), 0);
  EXPECT_EQ(t->q.data<int8_t>()[3], 127);
}

std::string fixture(const char* name) {
  namespace fs = std::filesystem;
  for (fs::path dir : {fs::path(__FILE__).parent_path().parent_path() / "fixtures", fs::path("tests/fixtures"),
                       fs::path("../tests/fixtures"), fs::path("../../tests/fixtures")})
    if (fs::exists(dir / name)) return (dir / name).string();
  return std::string("tests/fixtures/") + name;
}

std::vector<std::vector<Tensor>> random_batches(int n, Shape shape) {
  std::vector<std::vector<Tensor>> b;
  uint32_t s = 1;
  for (int k = 0; k < n; ++k) {
    Tensor t = Tensor::empty(DType::kFloat, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      s = s * 1664525u + 1013904223u;
      t.data<float>()[i] = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 2 - 1;
    }
    b.push_back({t});
  }
  return b;
}

TEST(QuantQdq, DemoCnnMatchesFloat) {
  auto m = load_onnx_model(fixture("demo_cnn.onnx"));
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  auto batches = random_batches(4, {2, 3, 32, 32});
  ASSERT_TRUE(check_calibration_batches(m->graph, batches, [](size_t) { return std::string("b"); }).is_ok());
  for (CalibMethod method : {CalibMethod::kMinMax, CalibMethod::kPercentile, CalibMethod::kEntropy, CalibMethod::kMse})
    for (bool per_channel : {false, true}) {
      QuantOptions opt;
      opt.method = method;
      opt.per_channel = per_channel;
      opt.symmetric_activations = !per_channel;
      auto nodes = quantizable_nodes(m->graph, opt);
      ASSERT_EQ(nodes.size(), 3u);
      auto ranges = calibrate(*m, activation_targets(m->graph, nodes), batches, opt, nullptr);
      ASSERT_TRUE(ranges.has_value()) << ranges.status().to_string();
      Model q = *m;
      auto rep = insert_qdq(q, *ranges, opt);
      ASSERT_TRUE(rep.has_value()) << rep.status().to_string();
      EXPECT_EQ(rep->quantized_nodes.size(), 3u);
      auto ref = run_batches(*m, batches);
      auto got = run_batches(q, batches);
      ASSERT_TRUE(ref.has_value() && got.has_value());
      OutputError e = compare_outputs(*ref, *got);
      EXPECT_GT(e.snr_db, 25.0) << calib_method_name(method) << " per_channel=" << per_channel;
      EXPECT_GT(e.cosine, 0.99);
    }
}

TEST(QuantQdq, ExcludeAndAnalyze) {
  auto m = load_onnx_model(fixture("demo_cnn.onnx"));
  ASSERT_TRUE(m.has_value());
  QuantOptions opt;
  opt.exclude = {"fc"};
  auto nodes = quantizable_nodes(m->graph, opt);
  EXPECT_EQ(nodes.size(), 2u);
  opt.exclude.clear();
  auto batches = random_batches(2, {1, 3, 32, 32});
  auto ranges = calibrate(*m, activation_targets(m->graph, quantizable_nodes(m->graph, opt)), batches, opt, nullptr);
  ASSERT_TRUE(ranges.has_value());
  auto ref = run_batches(*m, batches);
  ASSERT_TRUE(ref.has_value());
  auto sens = analyze_layers(*m, *ranges, batches, *ref, opt, nullptr);
  ASSERT_TRUE(sens.has_value()) << sens.status().to_string();
  ASSERT_EQ(sens->size(), 3u);
  EXPECT_LE((*sens)[0].error.snr_db, (*sens)[2].error.snr_db);
  Budget impossible;
  impossible.min_snr_db = 1000;
  auto fb = fallback_until_budget(*m, *ranges, batches, *ref, opt, *sens, impossible, nullptr);
  ASSERT_TRUE(fb.has_value());
  EXPECT_FALSE(fb->met);
  EXPECT_EQ(fb->kept_float.size(), 3u);
}

TEST(QuantCalibData, BadBatchesAreErrors) {
  auto m = load_onnx_model(fixture("demo_cnn.onnx"));
  ASSERT_TRUE(m.has_value());
  auto name = [](size_t) { return std::string("batch"); };
  EXPECT_FALSE(check_calibration_batches(m->graph, {}, name).is_ok());
  auto wrong_shape = random_batches(1, {1, 3, 16, 16});
  Status s = check_calibration_batches(m->graph, wrong_shape, name);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("image"), std::string::npos) << s.message();
  std::vector<std::vector<Tensor>> wrong_dtype = {{Tensor::zeros(DType::kInt64, {1, 3, 32, 32})}};
  EXPECT_EQ(check_calibration_batches(m->graph, wrong_dtype, name).code(), StatusCode::kInvalidArgument);
  auto nan = random_batches(1, {1, 3, 32, 32});
  nan[0][0].data<float>()[7] = NAN;
  s = check_calibration_batches(m->graph, nan, name);
  EXPECT_NE(s.message().find("NaN"), std::string::npos) << s.message();
  auto tmp = std::filesystem::temp_directory_path() / "ferry_quant_empty_calib";
  std::filesystem::create_directories(tmp);
  auto d = load_calibration_folder(m->graph, tmp.string());
  EXPECT_FALSE(d.has_value());
  EXPECT_FALSE(load_calibration_folder(m->graph, (tmp / "missing").string()).has_value());
}

}  // namespace
}  // namespace ferry::quant
