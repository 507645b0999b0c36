// quant_util.h — shape helpers shared by the quant family's inference (src/ops/quant.cc) and its reference
// kernels (src/backends/cpu/kernels/quant*.cc): convolution geometry for QLinearConv/ConvInteger, numpy-matmul
// shapes for QLinearMatMul/MatMulInteger, and the mapping of a tensor element to its quantization parameter
// (per-tensor, per-axis or blocked).
//
//   FERRY_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(node, x.shape(), w.shape()));
//   // g.out is the output shape [N, M, D1', D2', ...]; g.pads_begin/pads_end are explicit pads.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry {

struct ConvGeometry {
  int64_t group = 1;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  Shape out;  // [N, M, spatial...]
};

// Concrete geometry of an ONNX Conv-like node (auto_pad, pads, strides, dilations, group, kernel_shape).
// x: [N, C, D1..Dk], w: [M, C/group, k1..kk]. Errors describe the mismatch (no node name: callers add it).
inline Expected<ConvGeometry> conv_geometry(const Node& n, const Shape& x, const Shape& w) {
  ConvGeometry g;
  if (x.size() < 3) return invalid_argument("input rank " + std::to_string(x.size()) + ", expected >= 3");
  if (w.size() != x.size())
    return invalid_argument("weight rank " + std::to_string(w.size()) + " differs from input rank " +
                            std::to_string(x.size()));
  size_t k = x.size() - 2;
  g.group = n.attr_int("group", 1);
  if (g.group <= 0) return invalid_argument("group must be positive");
  if (x[1] != w[1] * g.group)
    return invalid_argument("input channels " + std::to_string(x[1]) + " != weight channels " + std::to_string(w[1]) +
                            " * group " + std::to_string(g.group));
  if (w[0] % g.group != 0) return invalid_argument("output channels not divisible by group");
  g.kernel = n.attr_ints("kernel_shape", {});
  if (g.kernel.empty()) g.kernel.assign(w.begin() + 2, w.end());
  if (g.kernel.size() != k) return invalid_argument("kernel_shape has wrong length");
  for (size_t i = 0; i < k; ++i)
    if (g.kernel[i] != w[i + 2]) return invalid_argument("kernel_shape does not match weight shape");
  g.strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  g.dilations = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  if (g.strides.size() != k || g.dilations.size() != k) return invalid_argument("strides/dilations have wrong length");
  for (size_t i = 0; i < k; ++i)
    if (g.strides[i] <= 0 || g.dilations[i] <= 0) return invalid_argument("strides and dilations must be positive");
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  if (pads.size() != 2 * k) return invalid_argument("pads has wrong length");
  for (int64_t p : pads)
    if (p < 0) return invalid_argument("negative pads");
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<long>(k));
  g.pads_end.assign(pads.begin() + static_cast<long>(k), pads.end());
  g.out = {x[0], w[0]};
  for (size_t i = 0; i < k; ++i) {
    int64_t in = x[i + 2], ek = (g.kernel[i] - 1) * g.dilations[i] + 1, o;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      o = (in + g.strides[i] - 1) / g.strides[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * g.strides[i] + ek - in);
      int64_t small = total / 2, big = total - small;
      g.pads_begin[i] = auto_pad == "SAME_UPPER" ? small : big;
      g.pads_end[i] = auto_pad == "SAME_UPPER" ? big : small;
    } else if (auto_pad == "VALID") {
      g.pads_begin[i] = g.pads_end[i] = 0;
      o = in >= ek ? (in - ek) / g.strides[i] + 1 : 0;
    } else if (auto_pad == "NOTSET") {
      int64_t span = in + g.pads_begin[i] + g.pads_end[i];
      o = span >= ek ? (span - ek) / g.strides[i] + 1 : 0;
    } else {
      return invalid_argument("unknown auto_pad '" + auto_pad + "'");
    }
    if (o <= 0) return invalid_argument("kernel larger than padded input");
    g.out.push_back(o);
  }
  return g;
}

// numpy.matmul output shape of concrete shapes (1-D operands promoted and the added dim removed).
inline Expected<Shape> matmul_shape(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) return invalid_argument("matmul operands must have rank >= 1");
  Shape A = a, B = b;
  if (A.size() == 1) A.insert(A.begin(), 1);
  if (B.size() == 1) B.push_back(1);
  if (A.back() != B[B.size() - 2])
    return invalid_argument("inner dimensions differ: " + shape_to_string(a) + " x " + shape_to_string(b));
  size_t ba = A.size() - 2, bb = B.size() - 2, nb = std::max(ba, bb);
  Shape out(nb);
  for (size_t i = 0; i < nb; ++i) {
    int64_t da = i + ba >= nb ? A[i + ba - nb] : 1, db = i + bb >= nb ? B[i + bb - nb] : 1;
    if (da != db && da != 1 && db != 1)
      return invalid_argument("batch dimensions cannot be broadcast: " + shape_to_string(a) + " x " +
                              shape_to_string(b));
    out[i] = da == 1 ? db : da;
  }
  if (a.size() > 1) out.push_back(A[A.size() - 2]);
  if (b.size() > 1) out.push_back(B.back());
  return out;
}

// How a quantization parameter tensor (scale / zero point) of shape `p` applies to a tensor of shape `x`.
struct QuantLayout {
  enum class Kind { kPerTensor, kPerAxis, kBlocked } kind = Kind::kPerTensor;
  int axis = 0;
  int64_t block = 0;
  int64_t axis_dim = 1, inner = 1, param_axis_dim = 1;
  // Index into the parameter tensor for flat element i of x.
  int64_t index(int64_t i) const {
    if (kind == Kind::kPerTensor) return 0;
    int64_t a = (i / inner) % axis_dim;
    if (kind == Kind::kPerAxis) return a;
    int64_t o = i / (inner * axis_dim), in = i % inner;
    return (o * param_axis_dim + a / block) * inner + in;
  }
};

inline Expected<QuantLayout> quant_layout(const Shape& x, const Shape& p, int64_t axis_attr, int64_t block_size) {
  QuantLayout l;
  int64_t pn = shape_numel(p);
  int rank = static_cast<int>(x.size());
  if (pn == 1 && p.size() <= 1 && block_size <= 0) return l;
  if (block_size < 0) return invalid_argument("block_size must be >= 0");
  int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  if (axis < 0 || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis_attr) + " out of range for input rank " +
                            std::to_string(rank));
  l.axis = static_cast<int>(axis);
  l.axis_dim = x[static_cast<size_t>(axis)];
  for (int d = l.axis + 1; d < rank; ++d) l.inner *= x[static_cast<size_t>(d)];
  if (block_size == 0) {
    if (p.size() != 1 || p[0] != l.axis_dim)
      return invalid_argument("per-axis scale shape " + shape_to_string(p) + " does not match input dim " +
                              std::to_string(l.axis_dim) + " on axis " + std::to_string(axis));
    l.kind = QuantLayout::Kind::kPerAxis;
    return l;
  }
  if (static_cast<int>(p.size()) != rank)
    return invalid_argument("blocked scale rank " + std::to_string(p.size()) + " differs from input rank " +
                            std::to_string(rank));
  for (int d = 0; d < rank; ++d) {
    int64_t want = d == l.axis ? (x[static_cast<size_t>(d)] + block_size - 1) / block_size : x[static_cast<size_t>(d)];
    if (p[static_cast<size_t>(d)] != want)
      return invalid_argument("blocked scale shape " + shape_to_string(p) + " does not fit input " +
                              shape_to_string(x) + " with block_size " + std::to_string(block_size));
  }
  l.kind = QuantLayout::Kind::kBlocked;
  l.block = block_size;
  l.param_axis_dim = p[static_cast<size_t>(l.axis)];
  return l;
}

}  // namespace ferry
