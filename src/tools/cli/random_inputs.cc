#include "tools/cli/random_inputs.h"

#include <random>

#include "core/dtype_dispatch.h"

namespace ferry::cli {

Expected<std::pair<std::string, Shape>> parse_shape_spec(const std::string& spec) {
  auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return invalid_argument("shape spec '" + spec + "' is not of the form name:d1xd2x...");
  std::string name = spec.substr(0, colon), dims = spec.substr(colon + 1);
  Shape shape;
  size_t pos = 0;
  while (pos <= dims.size() && !dims.empty()) {
    size_t x = dims.find_first_of("x,", pos);
    std::string d = dims.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    try {
      size_t used = 0;
      long long v = std::stoll(d, &used);
      if (used != d.size() || v < 0) throw std::invalid_argument(d);
      shape.push_back(v);
    } catch (...) {
      return invalid_argument("shape spec '" + spec + "': '" + d + "' is not a non-negative integer");
    }
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  return std::make_pair(name, shape);
}

Expected<Shape> resolve_input_shape(const IoInfo& info, const std::unordered_map<std::string, Shape>& overrides,
                                    int64_t default_dim) {
  auto it = overrides.find(info.name);
  if (it != overrides.end()) return it->second;
  if (!info.rank_known) return invalid_argument("input '" + info.name + "' has unknown rank; give its shape");
  Shape s;
  for (int64_t d : info.dims) s.push_back(d >= 0 ? d : default_dim);
  return s;
}

Tensor random_tensor(DType dtype, const Shape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor t = Tensor::empty(dtype, shape);
  int64_t n = t.numel();
  if (dtype == DType::kString) {
    for (int64_t i = 0; i < n; ++i) t.data<std::string>()[i] = "s" + std::to_string(i);
    return t;
  }
  if (dtype == DType::kFloat) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = u(rng);
    return t;
  }
  std::uniform_real_distribution<double> uf(-1.0, 1.0);
  std::uniform_int_distribution<int> ui(0, 7);
  for (int64_t i = 0; i < n; ++i) {
    double v = dtype_is_float(dtype) ? uf(rng) : dtype == DType::kBool ? (ui(rng) & 1) : ui(rng);
    store_double(t, i, v);
  }
  return t;
}

}  // namespace ferry::cli
