// ensemble_steps_classify.cc — post-processing built-in steps (softmax, top-k classification with labels, NMS for
// detection) and make_builtin_step, the factory ServerCore calls for platform "ferry_builtin".
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "serve/ensemble_steps.h"
#include "serve/ensemble_steps_util.h"

namespace ferry::serve {

Tensor softmax_last_axis(const Tensor& logits) {
  Tensor out = Tensor::empty(DType::kFloat, logits.shape());
  const int64_t c = logits.rank() ? logits.dim(logits.rank() - 1) : 1;
  const int64_t rows = c > 0 ? logits.numel() / c : 0;
  const float* x = logits.data<float>();
  float* y = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    float m = *std::max_element(xr, xr + c);
    double sum = 0;
    for (int64_t i = 0; i < c; ++i) sum += (yr[i] = std::exp(xr[i] - m));
    for (int64_t i = 0; i < c; ++i) yr[i] = static_cast<float>(yr[i] / sum);
  }
  return out;
}

void topk_last_axis(const Tensor& scores, int64_t k, Tensor* indices, Tensor* values) {
  const int64_t c = scores.rank() ? scores.dim(scores.rank() - 1) : 1;
  const int64_t rows = c > 0 ? scores.numel() / c : 0;
  k = std::min(k, c);
  Shape s = scores.shape();
  if (s.empty()) s.push_back(1);
  s.back() = k;
  *indices = Tensor::empty(DType::kInt64, s);
  *values = Tensor::empty(DType::kFloat, s);
  std::vector<int64_t> order(static_cast<size_t>(c));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = scores.data<float>() + r * c;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [x](int64_t a, int64_t b) {
      return x[a] > x[b] || (x[a] == x[b] && a < b);
    });
    for (int64_t i = 0; i < k; ++i) {
      indices->data<int64_t>()[r * k + i] = order[static_cast<size_t>(i)];
      values->data<float>()[r * k + i] = x[order[static_cast<size_t>(i)]];
    }
  }
}

namespace {
float iou(const float* a, const float* b) {
  float ix = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  float iy = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  float inter = ix * iy;
  float ua = std::max(0.f, a[2] - a[0]) * std::max(0.f, a[3] - a[1]) + std::max(0.f, b[2] - b[0]) * std::max(0.f, b[3] - b[1]) - inter;
  return ua > 0 ? inter / ua : 0.f;
}
}  // namespace

Tensor nms_detections(const Tensor& boxes, const Tensor& scores, float iou_threshold, float score_threshold,
                      int64_t max_detections) {
  const int64_t n = boxes.dim(0), classes = scores.dim(1);
  const float* b = boxes.data<float>();
  const float* s = scores.data<float>();
  struct Det { float score; int64_t box, cls; };
  std::vector<Det> kept;
  for (int64_t c = 0; c < classes; ++c) {
    std::vector<Det> cand;
    for (int64_t i = 0; i < n; ++i)
      if (s[i * classes + c] > score_threshold) cand.push_back({s[i * classes + c], i, c});
    std::stable_sort(cand.begin(), cand.end(), [](const Det& x, const Det& y) { return x.score > y.score; });
    std::vector<Det> sel;
    for (const Det& d : cand) {
      bool ok = true;
      for (const Det& k : sel) ok = ok && iou(b + d.box * 4, b + k.box * 4) <= iou_threshold;
      if (ok) sel.push_back(d);
    }
    kept.insert(kept.end(), sel.begin(), sel.end());
  }
  std::stable_sort(kept.begin(), kept.end(), [](const Det& x, const Det& y) { return x.score > y.score; });
  if (static_cast<int64_t>(kept.size()) > max_detections) kept.resize(static_cast<size_t>(max_detections));
  Tensor out = Tensor::empty(DType::kFloat, {static_cast<int64_t>(kept.size()), 6});
  for (size_t i = 0; i < kept.size(); ++i) {
    float* o = out.data<float>() + i * 6;
    std::copy(b + kept[i].box * 4, b + kept[i].box * 4 + 4, o);
    o[4] = kept[i].score;
    o[5] = static_cast<float>(kept[i].cls);
  }
  return out;
}

namespace {

class SoftmaxStep : public SimpleStep {
 public:
  explicit SoftmaxStep(std::string model) : SimpleStep(std::move(model)) {
    ins_ = {io("LOGITS", DType::kFloat, {-1, -1})};
    outs_ = {io("PROBS", DType::kFloat, {-1, -1})};
    ins_[0].rank_known = outs_[0].rank_known = false;
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    if (in[0].rank() < 1 || in[0].dim(in[0].rank() - 1) < 1)
      return invalid_argument(model_ + ": LOGITS needs a non-empty last axis, got " + shape_to_string(in[0].shape()));
    return std::vector<Tensor>{softmax_last_axis(in[0])};
  }
};

class TopkStep : public SimpleStep {
 public:
  TopkStep(std::string model, int64_t k, bool softmax, std::vector<std::string> labels)
      : SimpleStep(std::move(model)), k_(k), softmax_(softmax), labels_(std::move(labels)) {
    ins_ = {io("SCORES", DType::kFloat, {})};
    ins_[0].rank_known = false;
    outs_ = {io("INDICES", DType::kInt64, {}), io("VALUES", DType::kFloat, {})};
    if (!labels_.empty()) outs_.push_back(io("LABELS", DType::kString, {}));
    for (auto& o : outs_) o.rank_known = false;
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    const Tensor& x = in[0];
    if (x.rank() < 1 || x.dim(x.rank() - 1) < 1)
      return invalid_argument(model_ + ": SCORES needs a non-empty last axis, got " + shape_to_string(x.shape()));
    Tensor idx, val;
    topk_last_axis(softmax_ ? softmax_last_axis(x) : x, k_, &idx, &val);
    std::vector<Tensor> out{idx, val};
    if (!labels_.empty()) {
      Tensor l = Tensor::empty(DType::kString, idx.shape());
      for (int64_t i = 0; i < idx.numel(); ++i) {
        int64_t c = idx.data<int64_t>()[i];
        l.data<std::string>()[i] = c < static_cast<int64_t>(labels_.size()) ? labels_[static_cast<size_t>(c)] : std::to_string(c);
      }
      out.push_back(std::move(l));
    }
    return out;
  }

 private:
  int64_t k_;
  bool softmax_;
  std::vector<std::string> labels_;
};

class NmsStep : public SimpleStep {
 public:
  NmsStep(std::string model, float iou, float score, int64_t max_det, bool cxcywh)
      : SimpleStep(std::move(model)), iou_(iou), score_(score), max_(max_det), cxcywh_(cxcywh) {
    ins_ = {io("BOXES", DType::kFloat, {}), io("SCORES", DType::kFloat, {})};
    ins_[0].rank_known = ins_[1].rank_known = false;
    outs_ = {io("DETECTIONS", DType::kFloat, {-1, 6})};
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& in) override {
    Tensor b = in[0], s = in[1];
    if (b.rank() == 3 && b.dim(0) == 1) b = b.reshaped({b.dim(1), b.dim(2)});
    if (s.rank() == 3 && s.dim(0) == 1) s = s.reshaped({s.dim(1), s.dim(2)});
    if (s.rank() == 1) s = s.reshaped({s.dim(0), 1});
    if (b.rank() != 2 || b.dim(1) != 4 || s.rank() != 2 || s.dim(0) != b.dim(0))
      return invalid_argument(model_ + ": BOXES must be [N,4] and SCORES [N,C] (optionally with a leading 1), got " +
                              shape_to_string(in[0].shape()) + " and " + shape_to_string(in[1].shape()));
    if (cxcywh_) {
      Tensor c = Tensor::empty(DType::kFloat, b.shape());
      for (int64_t i = 0; i < b.dim(0); ++i) {
        const float* p = b.data<float>() + i * 4;
        float* q = c.data<float>() + i * 4;
        q[0] = p[0] - p[2] / 2, q[1] = p[1] - p[3] / 2, q[2] = p[0] + p[2] / 2, q[3] = p[1] + p[3] / 2;
      }
      b = c;
    }
    return std::vector<Tensor>{nms_detections(b, s, iou_, score_, max_)};
  }

 private:
  float iou_, score_;
  int64_t max_;
  bool cxcywh_;
};

Expected<std::vector<std::string>> read_labels(const std::string& dir, const std::string& file, const std::string& who) {
  if (file.find('/') != std::string::npos || file == "..")
    return invalid_argument(who + ": parameters.labels must be a file name in the model directory");
  std::string path = (std::filesystem::path(dir) / file).string();
  std::ifstream f(path);
  if (!f) return not_found(who + ": cannot open labels file " + path);
  std::vector<std::string> labels;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  if (labels.empty()) return invalid_argument(who + ": labels file " + path + " is empty");
  return labels;
}

}  // namespace

Expected<std::unique_ptr<BuiltinStep>> make_builtin_step(const ModelConfig& cfg, const std::string& model_dir) {
  const std::string who = "step model '" + cfg.name + "'";
  std::string step = param(cfg, "step");
  if (step.empty())
    return invalid_argument(who + ": platform 'ferry_builtin' needs parameters { key: \"step\" value { string_value: ... } }");
  if (cfg.max_batch_size != 0) return invalid_argument(who + ": built-in steps take max_batch_size 0");
  auto image = make_image_step(cfg, step);
  if (!image) return image.status();
  if (*image) return image;
  if (step == "softmax") return std::unique_ptr<BuiltinStep>(new SoftmaxStep(step));
  if (step == "topk") {
    int64_t k = 5;
    if (auto s = param(cfg, "k"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_int(s, cfg, "k", 1, 1 << 20, &k));
    std::vector<std::string> labels;
    if (auto s = param(cfg, "labels"); !s.empty()) {
      auto l = read_labels(model_dir, s, who);
      if (!l) return l.status();
      labels = std::move(l).value();
    }
    std::string sm = param(cfg, "softmax");
    if (!sm.empty() && sm != "true" && sm != "false") return invalid_argument(who + ": parameters.softmax must be true or false");
    return std::unique_ptr<BuiltinStep>(new TopkStep(step, k, sm == "true", std::move(labels)));
  }
  if (step == "nms") {
    float iou = 0.5f, score = 0.f;
    int64_t max_det = 100;
    if (auto s = param(cfg, "iou_threshold"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_float(s, cfg, "iou_threshold", &iou));
    if (auto s = param(cfg, "score_threshold"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_float(s, cfg, "score_threshold", &score));
    if (auto s = param(cfg, "max_detections"); !s.empty()) FERRY_RETURN_IF_ERROR(parse_int(s, cfg, "max_detections", 1, 1 << 20, &max_det));
    std::string fmt = param(cfg, "box_format");
    if (!fmt.empty() && fmt != "xyxy" && fmt != "cxcywh") return invalid_argument(who + ": parameters.box_format must be xyxy or cxcywh");
    return std::unique_ptr<BuiltinStep>(new NmsStep(step, iou, score, max_det, fmt == "cxcywh"));
  }
  return invalid_argument(who + ": unknown built-in step '" + step +
                          "' (image_decode, image_resize, image_normalize, softmax, topk, nms)");
}

}  // namespace ferry::serve
