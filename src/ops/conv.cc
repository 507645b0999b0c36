// conv.cc — op semantics (schemas + shape/dtype inference) of the conv family:
// Conv, ConvTranspose, DeformConv, Col2Im. Window geometry is shared with pools (ops/conv_geometry.h).
#include "ops/conv_geometry.h"
#include "ops/op_registry.h"

namespace ferry {
namespace {

bool is_conv_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Kernel sizes from W's spatial dims when all are known; empty otherwise.
std::vector<int64_t> kernel_from_weight(const SymShape& w, int nsp) {
  std::vector<int64_t> k;
  if (!w.rank_known || w.rank() != nsp + 2) return k;
  for (int i = 0; i < nsp; ++i) {
    if (!w.dims[static_cast<size_t>(i + 2)].known()) return {};
    k.push_back(w.dims[static_cast<size_t>(i + 2)].value);
  }
  return k;
}

// Common checks for Conv/ConvTranspose/DeformConv: float dtypes, ranks, X/W dtype match.
Status check_xw(InferContext& c) {
  DType t = c.input_dtype(0);
  if (!is_conv_float(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  if (c.input_dtype(1) != t) return c.error("X and W element types differ");
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  if (x.rank_known && x.rank() < 3) return c.error("X must have rank >= 3, got " + x.to_string());
  if (w.rank_known && w.rank() < 3) return c.error("W must have rank >= 3, got " + w.to_string());
  if (x.rank_known && w.rank_known && w.rank() != x.rank())
    return c.error("W rank " + std::to_string(w.rank()) + " differs from X rank " + std::to_string(x.rank()));
  if (c.node().attr_int("group", 1) <= 0) return c.error("group must be positive");
  return Status::ok();
}

// Sets output 0 to [N, channels, unknown spatial...] when geometry cannot be resolved.
void set_unknown_spatial(InferContext& c, Dim n, Dim ch, int nsp) {
  std::vector<Dim> d{n, ch};
  d.resize(static_cast<size_t>(nsp + 2));
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
}

Status infer_conv(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_xw(c));
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  int rank = x.rank_known ? x.rank() : (w.rank_known ? w.rank() : -1);
  if (rank < 0) {
    c.set_output(0, c.input_dtype(0), SymShape::unknown());
    return Status::ok();
  }
  const int nsp = rank - 2;
  const int64_t group = c.node().attr_int("group", 1);
  Dim n = x.rank_known ? x.dims[0] : Dim();
  Dim m = w.rank_known ? w.dims[0] : Dim();
  if (x.rank_known && w.rank_known && x.dims[1].known() && w.dims[1].known() &&
      x.dims[1].value != w.dims[1].value * group) {
    return c.error("X has " + std::to_string(x.dims[1].value) + " channels, W expects " +
                   std::to_string(w.dims[1].value) + " x group " + std::to_string(group));
  }
  if (m.known() && m.value % group != 0) return c.error("W output channels not divisible by group");
  if (c.has_input(2)) {
    const SymShape& b = c.input_shape(2);
    if (b.rank_known && (b.rank() != 1 || (m.known() && b.dims[0].known() && b.dims[0].value != m.value)))
      return c.error("bias shape " + b.to_string() + " must be [M]");
  }
  std::vector<int64_t> k = kernel_from_weight(w, nsp);
  if (k.empty() && !c.node().attr("kernel_shape")) {
    set_unknown_spatial(c, n, m, nsp);
    return Status::ok();
  }
  if (!k.empty() && c.node().attr("kernel_shape") && c.node().attr_ints("kernel_shape") != k)
    return c.error("kernel_shape attribute does not match W");
  auto wa = WindowAttrs::parse(c.node(), nsp, k);
  if (!wa) return c.error(wa.status().message());
  if (!x.rank_known) {
    set_unknown_spatial(c, n, m, nsp);
    return Status::ok();
  }
  auto sp = window_output_dims(*wa, std::vector<Dim>(x.dims.begin() + 2, x.dims.end()));
  if (!sp) return c.error(sp.status().message());
  std::vector<Dim> d{n, m};
  d.insert(d.end(), sp->begin(), sp->end());
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
  return Status::ok();
}

Status infer_conv_transpose(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_xw(c));
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  int rank = x.rank_known ? x.rank() : (w.rank_known ? w.rank() : -1);
  if (rank < 0) {
    c.set_output(0, c.input_dtype(0), SymShape::unknown());
    return Status::ok();
  }
  const int nsp = rank - 2;
  const int64_t group = c.node().attr_int("group", 1);
  Dim n = x.rank_known ? x.dims[0] : Dim();
  Dim m = (w.rank_known && w.dims[1].known()) ? Dim(w.dims[1].value * group) : Dim();
  if (x.rank_known && w.rank_known && x.dims[1].known() && w.dims[0].known() && x.dims[1].value != w.dims[0].value)
    return c.error("X has " + std::to_string(x.dims[1].value) + " channels, W has " + std::to_string(w.dims[0].value));
  if (w.rank_known && w.dims[0].known() && w.dims[0].value % group != 0)
    return c.error("W input channels not divisible by group");
  std::vector<int64_t> k = kernel_from_weight(w, nsp);
  if (k.empty() && !c.node().attr("kernel_shape")) {
    set_unknown_spatial(c, n, m, nsp);
    return Status::ok();
  }
  auto wa = WindowAttrs::parse(c.node(), nsp, k);
  if (!wa) return c.error(wa.status().message());
  std::vector<int64_t> in;
  if (x.rank_known) {
    for (int i = 0; i < nsp; ++i) {
      const Dim& d = x.dims[static_cast<size_t>(i + 2)];
      if (!d.known()) break;
      in.push_back(d.value);
    }
  }
  if (static_cast<int>(in.size()) != nsp) {
    set_unknown_spatial(c, n, m, nsp);
    return Status::ok();
  }
  auto g = conv_transpose_geometry(c.node(), *wa, in);
  if (!g) return c.error(g.status().message());
  std::vector<Dim> d{n, m};
  for (int64_t v : g->out) d.push_back(Dim(v));
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
  return Status::ok();
}

Status infer_deform_conv(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_xw(c));
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  if (c.input_dtype(2) != c.input_dtype(0)) return c.error("offset element type differs from X");
  if (c.has_input(4) && c.input_dtype(4) != c.input_dtype(0)) return c.error("mask element type differs from X");
  if (!x.rank_known || !w.rank_known) {
    c.set_output(0, c.input_dtype(0), SymShape::unknown());
    return Status::ok();
  }
  const int nsp = x.rank() - 2;
  std::vector<int64_t> k = kernel_from_weight(w, nsp);
  if (k.empty() && !c.node().attr("kernel_shape")) {
    set_unknown_spatial(c, x.dims[0], w.dims[0], nsp);
    return Status::ok();
  }
  auto wa = WindowAttrs::parse(c.node(), nsp, k);
  if (!wa) return c.error(wa.status().message());
  auto sp = window_output_dims(*wa, std::vector<Dim>(x.dims.begin() + 2, x.dims.end()));
  if (!sp) return c.error(sp.status().message());
  std::vector<Dim> d{x.dims[0], w.dims[0]};
  d.insert(d.end(), sp->begin(), sp->end());
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
  return Status::ok();
}

Status infer_col2im(InferContext& c) {
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() != 3) return c.error("input must have rank 3 [N, C*prod(block), L]");
  if (c.input_dtype(1) != DType::kInt64 || c.input_dtype(2) != DType::kInt64)
    return c.error("image_shape and block_shape must be int64");
  const Tensor* img = c.input_value(1);
  const Tensor* blk = c.input_value(2);
  Dim n = x.rank_known ? x.dims[0] : Dim();
  if (!img || !blk) {
    const SymShape& is = c.input_shape(1);
    if (is.rank_known && is.rank() == 1 && is.dims[0].known()) {
      std::vector<Dim> d{n, Dim()};
      d.resize(static_cast<size_t>(is.dims[0].value + 2));
      c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
    } else {
      c.set_output(0, c.input_dtype(0), SymShape::unknown());
    }
    return Status::ok();
  }
  std::vector<int64_t> image = tensor_to_int64s(*img), block = tensor_to_int64s(*blk);
  if (image.size() != block.size() || image.empty()) return c.error("image_shape and block_shape lengths differ");
  int64_t bprod = 1;
  for (int64_t b : block) {
    if (b <= 0) return c.error("block_shape values must be positive");
    bprod *= b;
  }
  for (int64_t v : image)
    if (v <= 0) return c.error("image_shape values must be positive");
  Dim ch;
  if (x.rank_known && x.dims[1].known()) {
    if (x.dims[1].value % bprod != 0) return c.error("input dim 1 is not a multiple of prod(block_shape)");
    ch = Dim(x.dims[1].value / bprod);
  }
  // Check L against the number of blocks when everything is known.
  WindowAttrs wa;
  wa.nsp = static_cast<int>(image.size());
  wa.kernel = block;
  const size_t ns = image.size();
  wa.strides = c.node().attr_ints("strides", std::vector<int64_t>(ns, 1));
  wa.dilations = c.node().attr_ints("dilations", std::vector<int64_t>(ns, 1));
  wa.pads = c.node().attr_ints("pads", std::vector<int64_t>(2 * ns, 0));
  if (wa.strides.size() != ns || wa.dilations.size() != ns || wa.pads.size() != 2 * ns)
    return c.error("strides/dilations/pads lengths do not match image_shape");
  for (size_t i = 0; i < ns; ++i)
    if (wa.strides[i] <= 0 || wa.dilations[i] <= 0) return c.error("strides and dilations must be positive");
  auto o = window_output(wa, image);
  if (!o) return c.error(o.status().message());
  int64_t blocks = 1;
  for (int64_t v : o->out) blocks *= v;
  if (x.rank_known && x.dims[2].known() && x.dims[2].value != blocks)
    return c.error("input has L=" + std::to_string(x.dims[2].value) + " blocks, geometry gives " +
                   std::to_string(blocks));
  std::vector<Dim> d{n, ch};
  for (int64_t v : image) d.push_back(Dim(v));
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(d));
  return Status::ok();
}

}  // namespace

void register_conv(OpRegistry& r) {
  r.add({"", "Conv", 2, 3, 1, 1, infer_conv});
  r.add({"", "ConvTranspose", 2, 3, 1, 1, infer_conv_transpose});
  r.add({"", "DeformConv", 3, 5, 1, 1, infer_deform_conv});
  r.add({"", "Col2Im", 3, 3, 1, 1, infer_col2im});
}

}  // namespace ferry
