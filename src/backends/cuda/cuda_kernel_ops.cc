// cuda_kernel_ops.cc — nodes run by ferry's own CUDA kernels (kernels/launch.h): elementwise unary/binary with
// full numpy broadcasting, Softmax, ReduceMean, Transpose, Concat, Slice, Gather (constant indices), Expand,
// LayerNormalization and BatchNormalization. Each op precomputes its kernel descriptor at build time; enqueue()
// is one launch, templated on the device storage type (float, __half, __nv_bfloat16).
#include <cmath>
#include <algorithm>
#include <array>
#include <functional>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"

namespace ferry::cuda {

namespace k = kernels;

namespace {

const Tensor* initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

bool const_scalar(const Graph& g, const std::string& name, float* v) {
  const Tensor* t = initializer(g, name);
  if (!t || t->numel() != 1 || t->dtype() != DType::kFloat) return false;
  *v = t->data<float>()[0];
  return true;
}

bool const_ints(const Graph& g, const std::string& name, std::vector<int64_t>* out) {
  const Tensor* t = initializer(g, name);
  if (!t || (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32)) return false;
  out->clear();
  for (int64_t i = 0; i < t->numel(); ++i)
    out->push_back(t->dtype() == DType::kInt64 ? t->data<int64_t>()[i] : t->data<int32_t>()[i]);
  return true;
}

bool unary_op(const Node& n, const Graph& g, k::UnaryOp* op, float* alpha, float* beta) {
  static const std::pair<const char*, k::UnaryOp> kSimple[] = {
      {"Relu", k::UnaryOp::Relu}, {"Sigmoid", k::UnaryOp::Sigmoid}, {"Tanh", k::UnaryOp::Tanh},
      {"Erf", k::UnaryOp::Erf},   {"Sqrt", k::UnaryOp::Sqrt},       {"Exp", k::UnaryOp::Exp},
      {"Log", k::UnaryOp::Log},   {"Neg", k::UnaryOp::Neg},         {"Abs", k::UnaryOp::Abs},
      {"HardSwish", k::UnaryOp::HardSwish}};
  *alpha = *beta = 0;
  for (const auto& [name, value] : kSimple)
    if (n.op_type == name) {
      *op = value;
      return true;
    }
  if (n.op_type == "LeakyRelu") {
    *op = k::UnaryOp::LeakyRelu;
    *alpha = n.attr_float("alpha", 0.01f);
    return true;
  }
  if (n.op_type == "HardSigmoid") {
    *op = k::UnaryOp::HardSigmoid;
    *alpha = n.attr_float("alpha", 0.2f);
    *beta = n.attr_float("beta", 0.5f);
    return true;
  }
  if (n.op_type == "Clip") {
    *op = k::UnaryOp::Clip;
    *alpha = -INFINITY;
    *beta = INFINITY;
    if (n.opset >= 11) {
      if (n.has_input(1) && !const_scalar(g, n.inputs[1], alpha)) return false;
      if (n.has_input(2) && !const_scalar(g, n.inputs[2], beta)) return false;
    } else {
      *alpha = n.attr_float("min", -INFINITY);
      *beta = n.attr_float("max", INFINITY);
    }
    return true;
  }
  return false;
}

bool binary_op(const std::string& t, k::BinaryOp* op) {
  static const std::pair<const char*, k::BinaryOp> kOps[] = {{"Add", k::BinaryOp::Add}, {"Sub", k::BinaryOp::Sub},
                                                             {"Mul", k::BinaryOp::Mul}, {"Div", k::BinaryOp::Div},
                                                             {"Pow", k::BinaryOp::Pow}, {"Max", k::BinaryOp::Max},
                                                             {"Min", k::BinaryOp::Min}};
  for (const auto& [name, value] : kOps)
    if (t == name) {
      *op = value;
      return true;
    }
  return false;
}

int64_t norm_axis(int64_t axis, size_t rank) { return axis < 0 ? axis + static_cast<int64_t>(rank) : axis; }

// One op = one launch closure, instantiated for the storage type at build time.
class LaunchOp : public CudaOp {
 public:
  LaunchOp(std::string name, std::function<cudaError_t(cudaStream_t)> fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  Status enqueue(const RunContext& rc) override { return cuda_status(fn_(rc.stream), name_); }

 private:
  std::string name_;
  std::function<cudaError_t(cudaStream_t)> fn_;
};

// Calls f(T{}) with T the C++ type of the device dtype.
template <typename F>
auto with_type(DType t, F&& f) {
  if (t == DType::kFloat16) return f(__half{});
  if (t == DType::kBFloat16) return f(__nv_bfloat16{});
  return f(float{});
}

// Slice's strided view: fills d from constant starts/ends/axes/steps (ONNX clamping rules).
bool slice_desc(const Graph& g, const Node& n, const Shape& in, const Shape& out, k::StridedDesc* d) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.opset >= 10) {
    if (!const_ints(g, n.inputs[1], &starts) || !const_ints(g, n.inputs[2], &ends)) return false;
    if (n.has_input(3) && !const_ints(g, n.inputs[3], &axes)) return false;
    if (n.has_input(4) && !const_ints(g, n.inputs[4], &steps)) return false;
  } else {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    axes = n.attr_ints("axes");
  }
  const size_t r = in.size();
  if (r > static_cast<size_t>(k::kMaxDims) || out.size() != r) return false;
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<int64_t> start(r, 0), step(r, 1), packed(r, 1);
  for (int i = static_cast<int>(r) - 2; i >= 0; --i) packed[i] = packed[i + 1] * in[i + 1];
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = norm_axis(axes[i], r);
    if (a < 0 || a >= static_cast<int64_t>(r) || steps[i] == 0) return false;
    int64_t dim = in[a], s = starts[i];
    if (s < 0) s += dim;
    s = steps[i] > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
    start[a] = s;
    step[a] = steps[i];
  }
  d->rank = static_cast<int>(r);
  d->offset = 0;
  for (size_t i = 0; i < r; ++i) {
    d->out_shape[i] = out[i];
    d->in_strides[i] = packed[i] * step[i];
    d->offset += start[i] * packed[i];
  }
  return true;
}

}  // namespace

std::unique_ptr<CudaOp> make_launch_op(std::string name, std::function<cudaError_t(cudaStream_t)> fn) {
  return std::make_unique<LaunchOp>(std::move(name), std::move(fn));
}

bool kernel_supports(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  if (n.outputs.size() != 1 || n.inputs.empty()) return false;
  Shape x, y;
  if (!static_shape(g, n.inputs[0], &x) || !static_shape(g, n.outputs[0], &y)) return false;
  k::UnaryOp u;
  k::BinaryOp b;
  float alpha, beta;
  if (binary_op(op, &b)) {
    Shape s1;
    DType t1;
    if (n.inputs.size() != 2 || !static_shape(g, n.inputs[1], &s1, &t1) || t1 != DType::kFloat) return false;
    k::BroadcastDesc d;
    return k::make_broadcast(x.data(), static_cast<int>(x.size()), s1.data(), static_cast<int>(s1.size()), &d);
  }
  if (unary_op(n, g, &u, &alpha, &beta)) return true;
  if (op == "Softmax") {
    int64_t axis = norm_axis(n.attr_int("axis", n.opset >= 13 ? -1 : 1), x.size());
    return n.opset < 13 || axis == static_cast<int64_t>(x.size()) - 1;
  }
  if (op == "ReduceMean") {
    std::vector<int64_t> axes = n.attr_ints("axes");
    if (n.has_input(1) && !const_ints(g, n.inputs[1], &axes)) return false;
    if (axes.empty()) return false;
    std::vector<int64_t> sorted;
    for (int64_t a : axes) sorted.push_back(norm_axis(a, x.size()));
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i] != sorted[i - 1] + 1) return false;  // contiguous axes only
    return true;
  }
  if (op == "Transpose") return x.size() <= static_cast<size_t>(k::kMaxDims);
  if (op == "Concat") {
    if (n.inputs.size() > static_cast<size_t>(k::kMaxConcatInputs)) return false;
    for (const auto& in : n.inputs) {
      Shape s;
      DType t;
      if (in.empty() || !static_shape(g, in, &s, &t) || t != DType::kFloat) return false;
    }
    return true;
  }
  if (op == "Slice") {
    k::StridedDesc d;
    return slice_desc(g, n, x, y, &d);
  }
  if (op == "Gather") {
    const Tensor* idx = n.inputs.size() == 2 ? initializer(g, n.inputs[1]) : nullptr;
    return idx && (idx->dtype() == DType::kInt64 || idx->dtype() == DType::kInt32);
  }
  if (op == "Expand") {
    std::vector<int64_t> shape;
    return n.inputs.size() == 2 && const_ints(g, n.inputs[1], &shape) && y.size() <= static_cast<size_t>(k::kMaxDims);
  }
  if (op == "LayerNormalization") {
    int64_t axis = norm_axis(n.attr_int("axis", -1), x.size());
    return axis == static_cast<int64_t>(x.size()) - 1 && n.inputs.size() >= 2 && initializer(g, n.inputs[1]) &&
           (!n.has_input(2) || initializer(g, n.inputs[2]));
  }
  if (op == "BatchNormalization") {
    if (x.size() < 2 || n.attr_int("training_mode", 0) != 0 || n.inputs.size() != 5) return false;
    for (size_t i = 1; i < 5; ++i)
      if (!initializer(g, n.inputs[i])) return false;
    return true;
  }
  return false;
}

Expected<std::unique_ptr<CudaOp>> build_kernel_op(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  const Graph& g = ctx.graph();
  const std::string name = "node " + group.name();
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  const DType dt = y.dtype;
  const int64_t numel = shape_numel(y.shape);
  std::function<cudaError_t(cudaStream_t)> fn;
  k::UnaryOp u;
  k::BinaryOp b;
  float alpha = 0, beta = 0;
  if (binary_op(n.op_type, &b)) {
    FERRY_ASSIGN_OR_RETURN(DevTensor x1, ctx.value(n.inputs[1]));
    k::BroadcastDesc d;
    Shape s0 = x.shape, s1 = x1.shape;
    if (y.nhwc) {  // operands are NHWC values or have H = W = 1 (same bytes in both layouts): pad, permute
      for (Shape* s : {&s0, &s1}) {
        while (s->size() < 4) s->insert(s->begin(), 1);
        *s = nhwc_order(*s);
      }
    }
    if (!k::make_broadcast(s0.data(), static_cast<int>(s0.size()), s1.data(), static_cast<int>(s1.size()), &d))
      return unsupported(name + ": shapes do not broadcast within the kernel's rank limit");
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* pa = static_cast<const T*>(x.ptr);
      auto* pb = static_cast<const T*>(x1.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::binary<T>(b, pa, pb, py, d, s); };
    });
  } else if (unary_op(n, g, &u, &alpha, &beta)) {
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::unary<T>(u, px, py, numel, alpha, beta, s); };
    });
  } else if (n.op_type == "Softmax") {
    const int64_t cols = n.opset >= 13 ? x.shape.back() : [&] {
      int64_t axis = norm_axis(n.attr_int("axis", 1), x.shape.size()), c = 1;
      for (size_t i = static_cast<size_t>(axis); i < x.shape.size(); ++i) c *= x.shape[i];
      return c;
    }();
    const int64_t rows = numel / std::max<int64_t>(cols, 1);
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::softmax<T>(px, py, rows, cols, s); };
    });
  } else if (n.op_type == "ReduceMean") {
    std::vector<int64_t> axes = n.attr_ints("axes");
    if (n.has_input(1)) const_ints(g, n.inputs[1], &axes);
    int64_t lo = INT64_MAX, hi = -1;
    for (int64_t a : axes) {
      lo = std::min(lo, norm_axis(a, x.shape.size()));
      hi = std::max(hi, norm_axis(a, x.shape.size()));
    }
    int64_t outer = 1, red = 1, inner = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(x.shape.size()); ++i)
      (i < lo ? outer : i <= hi ? red : inner) *= x.shape[static_cast<size_t>(i)];
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::reduce_mean<T>(px, py, outer, red, inner, s); };
    });
  } else if (n.op_type == "Transpose") {
    const int r = static_cast<int>(x.shape.size());
    std::vector<int64_t> perm64 = n.attr_ints("perm");
    std::array<int, k::kMaxDims> perm{};
    std::array<int64_t, k::kMaxDims> in{};
    for (int i = 0; i < r; ++i) {
      perm[i] = perm64.empty() ? r - 1 - i : static_cast<int>(perm64[static_cast<size_t>(i)]);
      in[i] = x.shape[static_cast<size_t>(i)];
    }
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::permute<T>(px, py, r, in.data(), perm.data(), s); };
    });
  } else if (n.op_type == "Concat") {
    const int64_t axis = norm_axis(n.attr_int("axis", 0), y.shape.size());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(y.shape.size()); ++i)
      if (i < axis) outer *= y.shape[static_cast<size_t>(i)];
      else if (i > axis) inner *= y.shape[static_cast<size_t>(i)];
    std::array<const void*, k::kMaxConcatInputs> ins{};
    std::array<int64_t, k::kMaxConcatInputs> lens{};
    const int count = static_cast<int>(n.inputs.size());
    for (int i = 0; i < count; ++i) {
      FERRY_ASSIGN_OR_RETURN(DevTensor in, ctx.value(n.inputs[static_cast<size_t>(i)]));
      ins[i] = in.ptr;
      lens[i] = in.shape[static_cast<size_t>(axis)];
    }
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) {
        return k::concat<T>(reinterpret_cast<const T* const*>(ins.data()), lens.data(), count, py, outer, inner, s);
      };
    });
  } else if (n.op_type == "Slice" || n.op_type == "Expand") {
    k::StridedDesc d;
    if (n.op_type == "Slice") {
      if (!slice_desc(g, n, x.shape, y.shape, &d)) return unsupported(name + ": slice parameters");
    } else {
      int64_t in_strides[k::kMaxDims] = {};
      if (!k::broadcast_strides(x.shape.data(), static_cast<int>(x.shape.size()), y.shape.data(),
                                static_cast<int>(y.shape.size()), in_strides))
        return unsupported(name + ": shapes do not broadcast");
      d.rank = static_cast<int>(y.shape.size());
      for (int i = 0; i < d.rank; ++i) {
        d.out_shape[i] = y.shape[static_cast<size_t>(i)];
        d.in_strides[i] = in_strides[i];
      }
    }
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::strided_copy<T>(px, py, d, s); };
    });
  } else if (n.op_type == "Gather") {
    const Tensor& idx_host = *initializer(g, n.inputs[1]);
    Tensor idx = Tensor::empty(DType::kInt64, idx_host.shape());
    for (int64_t i = 0; i < idx.numel(); ++i)
      idx.data<int64_t>()[i] =
          idx_host.dtype() == DType::kInt64 ? idx_host.data<int64_t>()[i] : idx_host.data<int32_t>()[i];
    FERRY_ASSIGN_OR_RETURN(void* pidx, ctx.upload_constant(idx, DType::kInt64));
    const int64_t axis = norm_axis(n.attr_int("axis", 0), x.shape.size());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(x.shape.size()); ++i)
      if (i < axis) outer *= x.shape[static_cast<size_t>(i)];
      else if (i > axis) inner *= x.shape[static_cast<size_t>(i)];
    const int64_t dim = x.shape[static_cast<size_t>(axis)], count = idx.numel();
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      auto* pi = static_cast<const int64_t*>(pidx);
      return [=](cudaStream_t s) { return k::gather<T>(px, pi, py, outer, dim, count, inner, nullptr, s); };
    });
  } else if (n.op_type == "LayerNormalization") {
    FERRY_ASSIGN_OR_RETURN(DevTensor gamma, ctx.value(n.inputs[1]));
    void* pbeta = nullptr;
    if (n.has_input(2)) {
      FERRY_ASSIGN_OR_RETURN(DevTensor bt, ctx.value(n.inputs[2]));
      pbeta = bt.ptr;
    }
    const int64_t cols = x.shape.back(), rows = numel / std::max<int64_t>(cols, 1);
    const float eps = n.attr_float("epsilon", 1e-5f);
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* pg = static_cast<const T*>(gamma.ptr);
      auto* pb = static_cast<const T*>(pbeta);
      auto* py = static_cast<T*>(y.ptr);
      return [=](cudaStream_t s) { return k::layer_norm<T>(px, nullptr, pg, pb, py, nullptr, rows, cols, eps, s); };
    });
  } else if (n.op_type == "BatchNormalization") {
    void* p[4];
    for (int i = 0; i < 4; ++i) {
      FERRY_ASSIGN_OR_RETURN(p[i], ctx.upload_constant(*initializer(g, n.inputs[static_cast<size_t>(i) + 1]),
                                                       DType::kFloat));
    }
    int64_t hw = 1;
    for (size_t i = 2; i < x.shape.size(); ++i) hw *= x.shape[i];
    const int64_t nb = x.shape[0], c = x.shape[1];
    const float eps = n.attr_float("epsilon", 1e-5f);
    fn = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      auto* px = static_cast<const T*>(x.ptr);
      auto* py = static_cast<T*>(y.ptr);
      const float *sc = static_cast<float*>(p[0]), *bi = static_cast<float*>(p[1]), *me = static_cast<float*>(p[2]),
                  *va = static_cast<float*>(p[3]);
      return [=](cudaStream_t s) { return k::batch_norm<T>(px, sc, bi, me, va, py, nb, c, hw, eps, false, s); };
    });
  } else {
    return unsupported(name + ": no CUDA kernel");
  }
  return make_launch_op(name, std::move(fn));
}

}  // namespace ferry::cuda
