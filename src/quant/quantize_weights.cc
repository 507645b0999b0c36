// quantize_weights.cc — constant weights to int8: symmetric (zero point 0), one scale per tensor or per channel.
#include <algorithm>
#include <cmath>

#include "quant/quantize.h"

namespace ferry::quant {

Expected<QuantizedWeight> quantize_weight(const Tensor& w, bool per_channel, int axis) {
  if (w.dtype() != DType::kFloat) return unsupported(std::string("weight dtype ") + dtype_name(w.dtype()) + ", expected float");
  if (per_channel && (axis < 0 || axis >= w.rank()))
    return invalid_argument("per-channel axis " + std::to_string(axis) + " out of range for weight of shape " +
                            shape_to_string(w.shape()));
  int64_t channels = per_channel ? w.dim(axis) : 1;
  int64_t inner = 1;
  if (per_channel)
    for (int k = axis + 1; k < w.rank(); ++k) inner *= w.dim(k);
  const float* src = w.data<float>();
  const int64_t n = w.numel();
  std::vector<float> absmax(static_cast<size_t>(std::max<int64_t>(channels, 1)), 0.0f);
  auto channel_of = [&](int64_t i) { return per_channel ? (i / inner) % channels : 0; };
  for (int64_t i = 0; i < n; ++i) {
    float a = std::fabs(src[i]);
    if (!std::isfinite(a)) return invalid_argument("weight has a non-finite element at index " + std::to_string(i));
    auto& m = absmax[static_cast<size_t>(channel_of(i))];
    m = std::max(m, a);
  }
  QuantizedWeight out;
  Shape sshape = per_channel ? Shape{channels} : Shape{};
  out.scale = Tensor::empty(DType::kFloat, sshape);
  out.zero_point = Tensor::zeros(DType::kInt8, sshape);
  float* scale = out.scale.data<float>();
  for (size_t c = 0; c < absmax.size(); ++c) scale[c] = absmax[c] > 0 ? absmax[c] / 127.0f : 1.0f;
  out.q = Tensor::empty(DType::kInt8, w.shape());
  int8_t* q = out.q.data<int8_t>();
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(src[i] / scale[channel_of(i)]);
    q[i] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
  }
  return out;
}

}  // namespace ferry::quant
