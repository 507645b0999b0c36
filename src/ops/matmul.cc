// matmul.cc — op semantics (schemas + shape/dtype inference) of the matmul family:
// MatMul, Gemm, Einsum, Det.
#include <string>
#include <vector>

#include "ops/matmul_einsum.h"
#include "ops/op_registry.h"

namespace ferry {
namespace {

bool is_numeric(DType t) { return t != DType::kString && t != DType::kUndefined && t != DType::kBool; }

// Joins two dims that must be equal (contraction sizes); error if both known and different.
Status check_same_dim(InferContext& c, const Dim& a, const Dim& b, const std::string& what) {
  if (a.known() && b.known() && a.value != b.value)
    return c.error(what + " mismatch: " + std::to_string(a.value) + " vs " + std::to_string(b.value));
  return Status::ok();
}

Status infer_matmul(InferContext& c) {
  DType ta = c.input_dtype(0), tb = c.input_dtype(1);
  if (ta != DType::kUndefined && tb != DType::kUndefined && ta != tb)
    return c.error(std::string("input types differ: ") + dtype_name(ta) + " vs " + dtype_name(tb));
  DType out = ta != DType::kUndefined ? ta : tb;
  if (out != DType::kUndefined && !is_numeric(out))
    return c.error(std::string("unsupported element type ") + dtype_name(out));
  const SymShape& a = c.input_shape(0);
  const SymShape& b = c.input_shape(1);
  if (!a.rank_known || !b.rank_known) {
    c.set_output(0, out, SymShape::unknown());
    return Status::ok();
  }
  if (a.rank() < 1 || b.rank() < 1) return c.error("MatMul inputs must have rank >= 1 (got scalars)");
  std::vector<Dim> ad = a.dims, bd = b.dims;
  bool a1 = ad.size() == 1, b1 = bd.size() == 1;
  if (a1) ad.insert(ad.begin(), Dim(1));
  if (b1) bd.push_back(Dim(1));
  FERRY_RETURN_IF_ERROR(check_same_dim(c, ad.back(), bd[bd.size() - 2], "inner dimension (K)"));
  SymShape abatch = SymShape::from_dims(std::vector<Dim>(ad.begin(), ad.end() - 2));
  SymShape bbatch = SymShape::from_dims(std::vector<Dim>(bd.begin(), bd.end() - 2));
  auto batch = broadcast_shapes({abatch, bbatch});
  if (!batch.has_value()) return c.error(batch.status().message());
  std::vector<Dim> od = batch->dims;
  if (!a1) od.push_back(ad[ad.size() - 2]);
  if (!b1) od.push_back(bd.back());
  c.set_output(0, out, SymShape::from_dims(od));
  return Status::ok();
}

Status infer_gemm(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_numeric(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  if (c.input_dtype(1) != DType::kUndefined && t != DType::kUndefined && c.input_dtype(1) != t)
    return c.error("A and B element types differ");
  const SymShape& a = c.input_shape(0);
  const SymShape& b = c.input_shape(1);
  bool ta = c.node().attr_int("transA", 0) != 0, tb = c.node().attr_int("transB", 0) != 0;
  if (a.rank_known && a.rank() != 2) return c.error("A must be 2-D, got " + a.to_string());
  if (b.rank_known && b.rank() != 2) return c.error("B must be 2-D, got " + b.to_string());
  Dim m = a.rank_known ? a.dims[ta ? 1 : 0] : Dim();
  Dim ka = a.rank_known ? a.dims[ta ? 0 : 1] : Dim();
  Dim kb = b.rank_known ? b.dims[tb ? 1 : 0] : Dim();
  Dim n = b.rank_known ? b.dims[tb ? 0 : 1] : Dim();
  FERRY_RETURN_IF_ERROR(check_same_dim(c, ka, kb, "inner dimension (K)"));
  if (c.has_input(2)) {
    const SymShape& cs = c.input_shape(2);
    if (cs.rank_known) {
      if (cs.rank() > 2) return c.error("C must have rank <= 2, got " + cs.to_string());
      std::vector<Dim> mn = {m, n};
      for (int i = 0; i < cs.rank(); ++i) {
        const Dim& d = cs.dims[static_cast<size_t>(i)];
        const Dim& target = mn[static_cast<size_t>(2 - cs.rank() + i)];
        if (d.known() && target.known() && d.value != 1 && d.value != target.value)
          return c.error("C of shape " + cs.to_string() + " cannot be broadcast to [M,N]");
      }
    }
  }
  c.set_output(0, t, SymShape::from_dims({m, n}));
  return Status::ok();
}

Status infer_einsum(InferContext& c) {
  std::string eq = c.node().attr_string("equation", "");
  if (eq.empty()) return c.error("missing 'equation' attribute");
  DType t = c.input_dtype(0);
  std::vector<int> ranks;
  for (int i = 0; i < c.num_inputs(); ++i) {
    if (c.input_dtype(i) != DType::kUndefined && t != DType::kUndefined && c.input_dtype(i) != t)
      return c.error("inputs have different element types");
    if (!c.input_shape(i).rank_known) {
      c.set_output(0, t, SymShape::unknown());
      return Status::ok();
    }
    ranks.push_back(c.input_shape(i).rank());
  }
  if (t != DType::kUndefined && !is_numeric(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  EinsumSpec spec;
  Status st = parse_einsum(eq, ranks, &spec);
  if (!st.is_ok()) return c.error(st.message());
  // Size of each label: a known dim != 1 wins; 1 broadcasts; mismatching known sizes are an error.
  std::vector<Dim> label_dim(kEllipsisBase + 64, Dim());
  std::vector<bool> seen(label_dim.size(), false);
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const auto& dims = c.input_shape(static_cast<int>(i)).dims;
    for (size_t k = 0; k < dims.size(); ++k) {
      int l = spec.inputs[i][k];
      if (l >= static_cast<int>(label_dim.size())) return c.error("too many ellipsis dims");
      const Dim& d = dims[k];
      Dim& cur = label_dim[static_cast<size_t>(l)];
      if (!seen[static_cast<size_t>(l)]) {
        cur = d;
        seen[static_cast<size_t>(l)] = true;
      } else if (d.known() && cur.known()) {
        if (cur.value == 1) cur = d;
        else if (d.value != 1 && d.value != cur.value)
          return c.error("label sizes disagree: " + std::to_string(cur.value) + " vs " + std::to_string(d.value));
      } else if (!d.known() && cur.known() && cur.value == 1) {
        cur = d;
      }
    }
  }
  std::vector<Dim> od;
  for (int l : spec.output) od.push_back(label_dim[static_cast<size_t>(l)]);
  c.set_output(0, t, SymShape::from_dims(od));
  return Status::ok();
}

Status infer_det(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !dtype_is_float(t)) return c.error(std::string("Det needs a float type, got ") + dtype_name(t));
  const SymShape& s = c.input_shape(0);
  if (!s.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    return Status::ok();
  }
  if (s.rank() < 2) return c.error("Det input must have rank >= 2, got " + s.to_string());
  FERRY_RETURN_IF_ERROR(check_same_dim(c, s.dims[s.dims.size() - 1], s.dims[s.dims.size() - 2], "square matrix size"));
  c.set_output(0, t, SymShape::from_dims(std::vector<Dim>(s.dims.begin(), s.dims.end() - 2)));
  return Status::ok();
}

}  // namespace

void register_matmul(OpRegistry& r) {
  r.add({"", "MatMul", 2, 2, 1, 1, infer_matmul});
  r.add({"", "Gemm", 2, 3, 1, 1, infer_gemm});
  r.add({"", "Einsum", 1, -1, 1, 1, infer_einsum});
  r.add({"", "Det", 1, 1, 1, 1, infer_det});
}

}  // namespace ferry
