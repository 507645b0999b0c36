// shape_params.cc — see shape_params.h.
#include "ops/shape_params.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/dtype_dispatch.h"

namespace ferry {

Expected<std::vector<int>> normalize_axes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int> out;
  std::vector<bool> seen(static_cast<size_t>(std::max(rank, 0)), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_argument("axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
    int n = static_cast<int>(a < 0 ? a + rank : a);
    if (seen[static_cast<size_t>(n)]) return invalid_argument("axis " + std::to_string(a) + " repeated");
    seen[static_cast<size_t>(n)] = true;
    out.push_back(n);
  }
  return out;
}

Expected<std::vector<SliceAxis>> resolve_slice(const std::vector<int64_t>& dims, const std::vector<int64_t>& starts,
                                               const std::vector<int64_t>& ends, const std::vector<int64_t>& axes_in,
                                               const std::vector<int64_t>& steps) {
  const int rank = static_cast<int>(dims.size());
  if (starts.size() != ends.size())
    return invalid_argument("starts has " + std::to_string(starts.size()) + " values, ends " +
                            std::to_string(ends.size()));
  std::vector<int64_t> axes = axes_in;
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (axes.size() != starts.size()) return invalid_argument("axes and starts have different lengths");
  if (!steps.empty() && steps.size() != starts.size()) return invalid_argument("steps and starts have different lengths");
  FERRY_ASSIGN_OR_RETURN(std::vector<int> naxes, normalize_axes(axes, rank));
  std::vector<SliceAxis> out(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) out[static_cast<size_t>(d)].len = dims[static_cast<size_t>(d)];
  for (size_t i = 0; i < naxes.size(); ++i) {
    SliceAxis& s = out[static_cast<size_t>(naxes[i])];
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return invalid_argument("slice step is 0");
    s.step = step;
    int64_t dim = dims[static_cast<size_t>(naxes[i])];
    if (dim < 0) {
      s.len = -1;
      continue;
    }
    int64_t start = starts[i], end = ends[i];
    if (start < 0) start = start <= std::numeric_limits<int64_t>::min() + dim ? -1 : start + dim;
    if (end < 0) end = end <= std::numeric_limits<int64_t>::min() + dim ? -1 : end + dim;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      s.len = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      // step may be INT64_MIN: compute with care.
      int64_t nstep = step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
      s.len = start > end ? (start - end - 1) / nstep + 1 : 0;
    }
    s.start = s.len > 0 ? start : 0;
  }
  return out;
}

Expected<std::vector<int64_t>> resolve_pads(int rank, const std::vector<int64_t>& pads,
                                            const std::vector<int64_t>& axes_in) {
  std::vector<int64_t> axes = axes_in;
  if (axes.empty())
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size())
    return invalid_argument("pads has " + std::to_string(pads.size()) + " values, expected " +
                            std::to_string(2 * axes.size()));
  FERRY_ASSIGN_OR_RETURN(std::vector<int> naxes, normalize_axes(axes, rank));
  for (int64_t p : pads)
    if (p > (int64_t{1} << 40) || p < -(int64_t{1} << 40)) return invalid_argument("pad " + std::to_string(p) + " too large");
  std::vector<int64_t> out(2 * static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < naxes.size(); ++i) {
    out[static_cast<size_t>(naxes[i])] = pads[i];
    out[static_cast<size_t>(naxes[i] + rank)] = pads[i + naxes.size()];
  }
  return out;
}

Expected<std::vector<int64_t>> resolve_split(int64_t dim, int num_outputs,
                                             const std::optional<std::vector<int64_t>>& split,
                                             int64_t num_outputs_attr) {
  if (num_outputs < 1) return invalid_argument("Split needs at least one output");
  std::vector<int64_t> sizes;
  if (split) {
    if (static_cast<int>(split->size()) != num_outputs)
      return invalid_argument("split has " + std::to_string(split->size()) + " sizes for " +
                              std::to_string(num_outputs) + " outputs");
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0) return invalid_argument("negative split size " + std::to_string(s));
      sum += s;
    }
    if (dim >= 0 && sum != dim)
      return invalid_argument("split sizes sum to " + std::to_string(sum) + ", axis has " + std::to_string(dim));
    return *split;
  }
  if (num_outputs_attr > 0 && num_outputs_attr != num_outputs)
    return invalid_argument("num_outputs is " + std::to_string(num_outputs_attr) + " but the node has " +
                            std::to_string(num_outputs) + " outputs");
  if (dim < 0) return std::vector<int64_t>(static_cast<size_t>(num_outputs), -1);
  if (num_outputs_attr > 0) {
    int64_t chunk = (dim + num_outputs - 1) / num_outputs;
    int64_t left = dim;
    for (int i = 0; i < num_outputs; ++i) {
      int64_t s = std::min(chunk, left);
      sizes.push_back(s);
      left -= s;
    }
    return sizes;
  }
  if (dim % num_outputs != 0)
    return invalid_argument("axis of size " + std::to_string(dim) + " cannot be split evenly into " +
                            std::to_string(num_outputs) + " outputs");
  return std::vector<int64_t>(static_cast<size_t>(num_outputs), dim / num_outputs);
}

Expected<int64_t> range_count(const Tensor& start, const Tensor& limit, const Tensor& delta) {
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
    return invalid_argument("start, limit and delta must be scalars");
  if (dtype_is_integer(start.dtype())) {
    int64_t s = to_int64_vector(start)[0], l = to_int64_vector(limit)[0], d = to_int64_vector(delta)[0];
    if (d == 0) return invalid_argument("delta is 0");
    long double n = std::ceil(static_cast<long double>(l - s) / static_cast<long double>(d));
    return n > 0 ? static_cast<int64_t>(n) : int64_t{0};
  }
  double s = load_double(start, 0), l = load_double(limit, 0), d = load_double(delta, 0);
  if (d == 0) return invalid_argument("delta is 0");
  double n = std::ceil((l - s) / d);
  if (!std::isfinite(n) || n > 1e12) return invalid_argument("Range would have " + std::to_string(n) + " elements");
  return n > 0 ? static_cast<int64_t>(n) : int64_t{0};
}

Expected<std::vector<int64_t>> resolve_reshape(const std::vector<int64_t>& in, const std::vector<int64_t>& target,
                                               bool allowzero) {
  std::vector<int64_t> out;
  int neg = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t v = target[i];
    if (v == -1) {
      if (neg >= 0) return invalid_argument("shape has more than one -1");
      neg = static_cast<int>(i);
      out.push_back(-1);
    } else if (v == 0) {
      has_zero = true;
      if (allowzero) {
        out.push_back(0);
      } else {
        if (i >= in.size())
          return invalid_argument("shape[" + std::to_string(i) + "] is 0 but the input has rank " +
                                  std::to_string(in.size()));
        out.push_back(in[i]);
      }
    } else if (v < -1) {
      return invalid_argument("invalid shape value " + std::to_string(v));
    } else {
      out.push_back(v);
    }
  }
  if (allowzero && has_zero && neg >= 0) return invalid_argument("allowzero with both 0 and -1 in shape");
  bool in_known = std::all_of(in.begin(), in.end(), [](int64_t d) { return d >= 0; });
  if (!in_known) return out;
  int64_t total = 1;
  for (int64_t d : in) total *= d;
  int64_t other = 1;
  bool other_known = true;
  for (size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int>(i) == neg) continue;
    if (out[i] < 0) other_known = false;
    else other *= out[i];
  }
  if (!other_known) return out;
  if (neg >= 0) {
    if (other == 0 || total % other != 0)
      return invalid_argument("cannot reshape " + std::to_string(total) + " elements with -1 and other dims " +
                              std::to_string(other));
    out[static_cast<size_t>(neg)] = total / other;
  } else if (other != total) {
    return invalid_argument("cannot reshape " + std::to_string(total) + " elements into " + std::to_string(other));
  }
  return out;
}

}  // namespace ferry
