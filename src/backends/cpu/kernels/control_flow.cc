// control_flow.cc — CPU reference kernels of the control-flow family: If, Loop, Scan (opset 8 and 9+), Optional,
// OptionalHasElement, OptionalGetElement (tensor case: an optional holding a tensor is that tensor; an empty
// optional is an absent input).
//
// Bodies run through ctx.subgraphs(), which makes enclosing values visible. Per-iteration outputs of Loop/Scan
// are stacked here; slices of Scan inputs are copied out (bodies must not see views with foreign strides).
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

// Copies `count` elements from src[src_off...] to dst[dst_off...] (same dtype).
void copy_elems(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t count) {
  if (count <= 0) return;
  if (src.dtype() == DType::kString) {
    const std::string* s = src.data<std::string>() + src_off;
    std::string* d = dst.data<std::string>() + dst_off;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw_data()) + static_cast<size_t>(dst_off) * es,
              static_cast<const char*>(src.raw_data()) + static_cast<size_t>(src_off) * es,
              static_cast<size_t>(count) * es);
}

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[static_cast<size_t>(i)];
  return p;
}

// x with index `idx` taken along `axis` (that axis removed).
Tensor take_along(const Tensor& x, int axis, int64_t idx) {
  Shape s = x.shape();
  int64_t outer = prod(s, 0, axis), len = s[static_cast<size_t>(axis)], inner = prod(s, axis + 1, x.rank());
  Shape os = s;
  os.erase(os.begin() + axis);
  Tensor out = Tensor::empty(x.dtype(), os);
  for (int64_t o = 0; o < outer; ++o) copy_elems(x, (o * len + idx) * inner, out, o * inner, inner);
  return out;
}

// Stacks equally shaped parts along a new axis `axis` (0..rank). `reverse` puts the last part first.
Expected<Tensor> stack(const std::vector<Tensor>& parts, int axis, bool reverse, const Node& node) {
  const Tensor& p0 = parts[0];
  for (const Tensor& p : parts)
    if (p.shape() != p0.shape() || p.dtype() != p0.dtype())
      return invalid_argument("node " + node.display_name() + ": per-iteration outputs differ in shape or type (" +
                              shape_to_string(p0.shape()) + " vs " + shape_to_string(p.shape()) + ")");
  if (axis < 0 || axis > p0.rank())
    return invalid_argument("node " + node.display_name() + ": scan output axis out of range");
  Shape os = p0.shape();
  int64_t n = static_cast<int64_t>(parts.size());
  os.insert(os.begin() + axis, n);
  Tensor out = Tensor::empty(p0.dtype(), os);
  int64_t outer = prod(p0.shape(), 0, axis), inner = prod(p0.shape(), axis, p0.rank());
  for (int64_t t = 0; t < n; ++t) {
    const Tensor& p = parts[static_cast<size_t>(reverse ? n - 1 - t : t)];
    for (int64_t o = 0; o < outer; ++o) copy_elems(p, o * inner, out, (o * n + t) * inner, inner);
  }
  return out;
}

// An empty stacked output (zero iterations): shape from inference with unknown dims as 0.
Tensor empty_stacked(const ValueType& vt, int axis) {
  Shape s;
  if (vt.shape.rank_known)
    for (const Dim& d : vt.shape.dims) s.push_back(d.known() ? d.value : 0);
  if (s.empty()) s.push_back(0);
  if (axis < 0) axis += static_cast<int>(s.size());
  s[static_cast<size_t>(std::clamp(axis, 0, static_cast<int>(s.size()) - 1))] = 0;
  return Tensor::zeros(vt.dtype == DType::kUndefined ? DType::kFloat : vt.dtype, s);
}

Expected<bool> read_bool_scalar(KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1) return ctx.error(std::string(what) + " must have exactly one element");
  if (t.dtype() == DType::kString) return ctx.error(std::string(what) + " must be bool");
  return load_double(t, 0) != 0.0;
}

Status if_kernel(KernelContext& ctx) {
  if (!ctx.subgraphs()) return ctx.unsupported_error("no subgraph runner available");
  const Tensor* cond = ctx.input(0);
  if (!cond) return ctx.error("cond is missing");
  FERRY_ASSIGN_OR_RETURN(bool c, read_bool_scalar(ctx, *cond, "cond"));
  const Graph* g = ctx.node().attr_graph(c ? "then_branch" : "else_branch");
  if (!g) return ctx.error("branch graph missing");
  FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, ctx.subgraphs()->run(*g, {}));
  if (static_cast<int>(outs.size()) < ctx.num_outputs())
    return ctx.error("branch returned " + std::to_string(outs.size()) + " values, expected " +
                     std::to_string(ctx.num_outputs()));
  for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, outs[static_cast<size_t>(i)]);
  return Status::ok();
}

Status loop_kernel(KernelContext& ctx) {
  if (!ctx.subgraphs()) return ctx.unsupported_error("no subgraph runner available");
  const Graph* body = ctx.node().attr_graph("body");
  if (!body) return ctx.error("attribute 'body' is required");
  int n_carried = ctx.num_inputs() - 2;
  if (n_carried < 0) n_carried = 0;
  int n_scan = static_cast<int>(body->outputs.size()) - 1 - n_carried;
  if (n_scan < 0) return ctx.error("body returns too few outputs");
  int64_t max_trip = -1;
  if (const Tensor* m = ctx.input(0)) {
    if (m->numel() != 1 || !dtype_is_integer(m->dtype())) return ctx.error("M must be an integer scalar");
    max_trip = to_int64_vector(*m)[0];
  }
  bool cond = true;
  if (const Tensor* c = ctx.input(1)) {
    FERRY_ASSIGN_OR_RETURN(cond, read_bool_scalar(ctx, *c, "cond"));
  }
  std::vector<Tensor> carried;
  for (int i = 0; i < n_carried; ++i) {
    const Tensor* t = ctx.input(2 + i);
    if (!t) return ctx.error("loop-carried input " + std::to_string(i) + " is missing");
    carried.push_back(*t);
  }
  std::vector<std::vector<Tensor>> scans(static_cast<size_t>(n_scan));
  for (int64_t iter = 0; (max_trip < 0 || iter < max_trip) && cond; ++iter) {
    std::vector<Tensor> in = {Tensor::scalar_int64(iter), Tensor::from_vector<bool>(DType::kBool, {}, {cond})};
    in.insert(in.end(), carried.begin(), carried.end());
    FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, ctx.subgraphs()->run(*body, in));
    if (outs.size() != static_cast<size_t>(1 + n_carried + n_scan)) return ctx.error("body returned wrong count");
    FERRY_ASSIGN_OR_RETURN(cond, read_bool_scalar(ctx, outs[0], "body cond output"));
    for (int i = 0; i < n_carried; ++i) carried[static_cast<size_t>(i)] = outs[static_cast<size_t>(1 + i)];
    for (int k = 0; k < n_scan; ++k)
      scans[static_cast<size_t>(k)].push_back(outs[static_cast<size_t>(1 + n_carried + k)]);
  }
  for (int i = 0; i < n_carried && i < ctx.num_outputs(); ++i) ctx.set_output(i, carried[static_cast<size_t>(i)]);
  for (int k = 0; k < n_scan && n_carried + k < ctx.num_outputs(); ++k) {
    const auto& parts = scans[static_cast<size_t>(k)];
    if (parts.empty()) {
      ctx.set_output(n_carried + k, empty_stacked(ctx.inferred(n_carried + k), 0));
      continue;
    }
    FERRY_ASSIGN_OR_RETURN(Tensor t, stack(parts, 0, false, ctx.node()));
    ctx.set_output(n_carried + k, std::move(t));
  }
  return Status::ok();
}

// One scan pass (opset 9+ semantics) over `states` and `xs`; fills final states and stacked scan outputs.
struct ScanSpec {
  std::vector<int64_t> in_dirs, in_axes, out_dirs, out_axes;
  int64_t seq_limit = -1;  // opset 8: sequence length of this batch entry (<0: full length)
};

Status run_scan(KernelContext& ctx, const Graph& body, std::vector<Tensor> states, const std::vector<Tensor>& xs,
                const ScanSpec& spec, std::vector<Tensor>* final_states, std::vector<Tensor>* scan_outs) {
  int n_state = static_cast<int>(states.size());
  int n_out = static_cast<int>(body.outputs.size()) - n_state;
  if (n_out < 0) return ctx.error("body returns fewer outputs than there are state variables");
  int64_t seq = -1;
  std::vector<int> axes;
  for (size_t j = 0; j < xs.size(); ++j) {
    int64_t a = j < spec.in_axes.size() ? spec.in_axes[j] : 0;
    if (a < 0) a += xs[j].rank();
    if (a < 0 || a >= xs[j].rank()) return ctx.error("scan input axis out of range");
    axes.push_back(static_cast<int>(a));
    int64_t len = xs[j].dim(static_cast<int>(a));
    if (seq >= 0 && len != seq) return ctx.error("scan inputs have different sequence lengths");
    seq = len;
  }
  int64_t steps = spec.seq_limit >= 0 ? std::min(spec.seq_limit, seq) : seq;
  std::vector<std::vector<Tensor>> parts(static_cast<size_t>(n_out));
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<Tensor> in = states;
    for (size_t j = 0; j < xs.size(); ++j) {
      bool rev = j < spec.in_dirs.size() && spec.in_dirs[j] == 1;
      in.push_back(take_along(xs[j], axes[j], rev ? steps - 1 - t : t));
    }
    FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, ctx.subgraphs()->run(body, in));
    if (outs.size() != static_cast<size_t>(n_state + n_out)) return ctx.error("body returned wrong count");
    for (int i = 0; i < n_state; ++i) states[static_cast<size_t>(i)] = outs[static_cast<size_t>(i)];
    for (int k = 0; k < n_out; ++k) parts[static_cast<size_t>(k)].push_back(outs[static_cast<size_t>(n_state + k)]);
  }
  *final_states = states;
  scan_outs->clear();
  for (int k = 0; k < n_out; ++k) {
    const auto& p = parts[static_cast<size_t>(k)];
    if (p.empty()) {
      scan_outs->emplace_back();  // caller fills from inference
      continue;
    }
    int64_t a = static_cast<size_t>(k) < spec.out_axes.size() ? spec.out_axes[static_cast<size_t>(k)] : 0;
    if (a < 0) a += p[0].rank() + 1;
    bool rev = static_cast<size_t>(k) < spec.out_dirs.size() && spec.out_dirs[static_cast<size_t>(k)] == 1;
    FERRY_ASSIGN_OR_RETURN(Tensor st, stack(p, static_cast<int>(a), rev, ctx.node()));
    scan_outs->push_back(std::move(st));
  }
  return Status::ok();
}

Status scan9_kernel(KernelContext& ctx, const Graph& body) {
  const Node& n = ctx.node();
  int m = static_cast<int>(n.attr_int("num_scan_inputs", 0));
  int n_state = ctx.num_inputs() - m;
  if (m < 1 || n_state < 0) return ctx.error("num_scan_inputs out of range");
  ScanSpec spec;
  spec.in_dirs = n.attr_ints("scan_input_directions");
  spec.in_axes = n.attr_ints("scan_input_axes");
  spec.out_dirs = n.attr_ints("scan_output_directions");
  spec.out_axes = n.attr_ints("scan_output_axes");
  std::vector<Tensor> states, xs;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.input(i);
    if (!t) return ctx.error("input " + std::to_string(i) + " is missing");
    (i < n_state ? states : xs).push_back(*t);
  }
  std::vector<Tensor> fin, outs;
  FERRY_RETURN_IF_ERROR(run_scan(ctx, body, states, xs, spec, &fin, &outs));
  for (int i = 0; i < n_state && i < ctx.num_outputs(); ++i) ctx.set_output(i, fin[static_cast<size_t>(i)]);
  for (size_t k = 0; k < outs.size() && n_state + static_cast<int>(k) < ctx.num_outputs(); ++k) {
    int o = n_state + static_cast<int>(k);
    int64_t a = k < spec.out_axes.size() ? spec.out_axes[k] : 0;
    ctx.set_output(o, outs[k].defined() ? outs[k] : empty_stacked(ctx.inferred(o), static_cast<int>(a)));
  }
  return Status::ok();
}

// Opset 8: every input has a leading batch axis; scan inputs are [batch, seq, ...]; optional sequence_lens.
Status scan8_kernel(KernelContext& ctx, const Graph& body) {
  const Node& n = ctx.node();
  int m = static_cast<int>(n.attr_int("num_scan_inputs", 0));
  int n_state = ctx.num_inputs() - 1 - m;
  if (m < 1 || n_state < 0) return ctx.error("num_scan_inputs out of range");
  std::vector<const Tensor*> states, xs;
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.input(i);
    if (!t || t->rank() < 1) return ctx.error("input " + std::to_string(i) + " is missing or a scalar");
    (i - 1 < n_state ? states : xs).push_back(t);
  }
  int64_t batch = xs[0]->dim(0);
  for (const Tensor* t : xs)
    if (t->dim(0) != batch || t->rank() < 2) return ctx.error("scan inputs need shape [batch, seq, ...]");
  for (const Tensor* t : states)
    if (t->dim(0) != batch) return ctx.error("state inputs need a leading batch axis");
  int64_t max_seq = xs[0]->dim(1);
  std::vector<int64_t> lens(static_cast<size_t>(batch), max_seq);
  if (const Tensor* sl = ctx.input(0)) {
    lens = to_int64_vector(*sl);
    if (static_cast<int64_t>(lens.size()) != batch) return ctx.error("sequence_lens must have one entry per batch");
    for (int64_t l : lens)
      if (l < 0 || l > max_seq) return ctx.error("sequence_lens value out of range");
  }
  ScanSpec spec;
  spec.in_dirs = n.attr_ints("directions");
  std::vector<std::vector<Tensor>> fin_parts(static_cast<size_t>(n_state)), out_parts;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Tensor> st, x;
    for (const Tensor* t : states) st.push_back(take_along(*t, 0, b));
    for (const Tensor* t : xs) x.push_back(take_along(*t, 0, b));
    spec.seq_limit = lens[static_cast<size_t>(b)];
    std::vector<Tensor> fin, outs;
    FERRY_RETURN_IF_ERROR(run_scan(ctx, body, st, x, spec, &fin, &outs));
    for (int i = 0; i < n_state; ++i) fin_parts[static_cast<size_t>(i)].push_back(fin[static_cast<size_t>(i)]);
    out_parts.resize(outs.size());
    for (size_t k = 0; k < outs.size(); ++k) {
      Tensor o = outs[k];
      if (!o.defined() || o.dim(0) < max_seq) {  // pad short sequences with zeros up to max_seq
        const ValueType& vt = ctx.inferred(n_state + static_cast<int>(k));
        Shape s = o.defined() ? o.shape() : Shape{};
        if (!o.defined()) {
          if (!vt.shape.rank_known || vt.shape.rank() < 2) return ctx.error("cannot size an empty scan output");
          for (int d = 1; d < vt.shape.rank(); ++d) s.push_back(std::max<int64_t>(vt.shape.dims[d].value, 0));
          s[0] = 0;
        }
        Shape ps = s;
        ps[0] = max_seq;
        Tensor padded = Tensor::zeros(o.defined() ? o.dtype() : vt.dtype, ps);
        if (o.defined()) copy_elems(o, 0, padded, 0, o.numel());
        o = padded;
      }
      out_parts[k].push_back(o);
    }
  }
  for (int i = 0; i < n_state && i < ctx.num_outputs(); ++i) {
    FERRY_ASSIGN_OR_RETURN(Tensor t, stack(fin_parts[static_cast<size_t>(i)], 0, false, n));
    ctx.set_output(i, std::move(t));
  }
  for (size_t k = 0; k < out_parts.size() && n_state + static_cast<int>(k) < ctx.num_outputs(); ++k) {
    FERRY_ASSIGN_OR_RETURN(Tensor t, stack(out_parts[k], 0, false, n));
    ctx.set_output(n_state + static_cast<int>(k), std::move(t));
  }
  return Status::ok();
}

Status scan_kernel(KernelContext& ctx) {
  if (!ctx.subgraphs()) return ctx.unsupported_error("no subgraph runner available");
  const Graph* body = ctx.node().attr_graph("body");
  if (!body) return ctx.error("attribute 'body' is required");
  return ctx.opset() < 9 ? scan8_kernel(ctx, *body) : scan9_kernel(ctx, *body);
}

Status optional_kernel(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  if (!x) return ctx.unsupported_error("empty optionals (no input) are not supported");
  ctx.set_output(0, *x);
  return Status::ok();
}

Status optional_has_element(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  Tensor* y = ctx.output(0, DType::kBool, {});
  y->data<bool>()[0] = x != nullptr && x->defined();
  return Status::ok();
}

Status optional_get_element(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  if (!x || !x->defined()) return ctx.error("the optional is empty");
  ctx.set_output(0, *x);
  return Status::ok();
}

}  // namespace

void register_control_flow_kernels(KernelRegistry& r) {
  r.add_fn("", "If", if_kernel);
  r.add_fn("", "Loop", loop_kernel);
  r.add_fn("", "Scan", scan_kernel);
  r.add_fn("", "Optional", optional_kernel);
  r.add_fn("", "OptionalHasElement", optional_has_element);
  r.add_fn("", "OptionalGetElement", optional_get_element);
}

}  // namespace ferry
