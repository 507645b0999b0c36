// detection.cc — CPU reference kernel of NonMaxSuppression (greedy per batch and class, as in ONNX).
#include <algorithm>
#include <array>
#include <numeric>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

// Box as [y1, x1, y2, x2] with y1 <= y2, x1 <= x2.
std::array<float, 4> corners(const float* b, bool center) {
  if (center) {
    float xc = b[0], yc = b[1], w = b[2], h = b[3];
    return {yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2};
  }
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

float iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  float ih = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  float iw = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (ih <= 0 || iw <= 0) return 0.0f;
  float inter = ih * iw;
  float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
  float uni = area_a + area_b - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

Status non_max_suppression(KernelContext& ctx) {
  const Tensor& boxes = *ctx.input(0);
  const Tensor& scores = *ctx.input(1);
  if (boxes.dtype() != DType::kFloat || scores.dtype() != DType::kFloat) return ctx.error("boxes/scores must be float");
  if (boxes.rank() != 3 || boxes.dim(2) != 4) return ctx.error("boxes must have shape [batch, boxes, 4]");
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
    return ctx.error("scores must have shape [batch, classes, boxes] matching boxes " +
                     shape_to_string(boxes.shape()) + ", got " + shape_to_string(scores.shape()));
  int64_t max_out = 0;
  if (const Tensor* t = ctx.input(2); t && t->numel() > 0) {
    if (!dtype_is_integer(t->dtype())) return ctx.error("max_output_boxes_per_class must be int64");
    max_out = to_int64_vector(*t)[0];
  }
  float iou_thr = 0.0f;
  if (const Tensor* t = ctx.input(3); t && t->numel() > 0) iou_thr = static_cast<float>(load_double(*t, 0));
  bool has_score_thr = false;
  float score_thr = 0.0f;
  if (const Tensor* t = ctx.input(4); t && t->numel() > 0) {
    has_score_thr = true;
    score_thr = static_cast<float>(load_double(*t, 0));
  }
  bool center = ctx.node().attr_int("center_point_box", 0) == 1;
  int64_t nb = boxes.dim(0), nc = scores.dim(1), n = boxes.dim(1);
  std::vector<int64_t> sel;
  for (int64_t b = 0; b < nb && max_out > 0; ++b) {
    std::vector<std::array<float, 4>> bx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) bx[static_cast<size_t>(i)] = corners(boxes.data<float>() + (b * n + i) * 4, center);
    for (int64_t c = 0; c < nc; ++c) {
      const float* s = scores.data<float>() + (b * nc + c) * n;
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < n; ++i)
        if (!has_score_thr || s[i] > score_thr) cand.push_back(i);
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : cand) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool ok = true;
        for (int64_t k : kept)
          if (iou(bx[static_cast<size_t>(i)], bx[static_cast<size_t>(k)]) > iou_thr) {
            ok = false;
            break;
          }
        if (ok) kept.push_back(i);
      }
      for (int64_t k : kept) sel.insert(sel.end(), {b, c, k});
    }
  }
  Tensor* y = ctx.output(0, DType::kInt64, {static_cast<int64_t>(sel.size() / 3), 3});
  std::copy(sel.begin(), sel.end(), y->data<int64_t>());
  return Status::ok();
}

}  // namespace

void register_detection_kernels(KernelRegistry& r) { r.add_fn("", "NonMaxSuppression", non_max_suppression); }

}  // namespace ferry
