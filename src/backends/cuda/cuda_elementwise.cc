// cuda_elementwise.cc — elementwise, activation, softmax, transpose and reduction ops through cuDNN's
// tensor functions (cudnnOpTensor, cudnnActivationForward, cudnnSoftmaxForward, cudnnTransformTensor,
// cudnnReduceTensor).
//
// Binary ops broadcast numpy-style when one operand has the output's shape (cuDNN broadcasts B only; A and B
// swap for the commutative ops, Sub swaps with negated scales). Div by a constant becomes Mul by its
// reciprocal; Pow by a constant 2 becomes x*x. Ops outside these forms fall back to the CPU.
#include <cmath>
#include <numeric>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"

namespace ferry::cuda {

namespace {

Shape pad_to(const Shape& s, size_t rank) {
  Shape out(rank - std::min(rank, s.size()), 1);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// B broadcasts to `out` (each dim equal or 1), as cudnnOpTensor requires.
bool broadcasts_to(const Shape& b, const Shape& out) {
  if (b.size() > out.size()) return false;
  Shape p = pad_to(b, out.size());
  for (size_t i = 0; i < out.size(); ++i)
    if (p[i] != out[i] && p[i] != 1) return false;
  return true;
}

const Tensor* constant(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

bool constant_scalar(const Graph& g, const std::string& name, float* v) {
  const Tensor* t = constant(g, name);
  if (!t || t->numel() != 1 || t->dtype() != DType::kFloat) return false;
  *v = t->data<float>()[0];
  return true;
}

class CudnnOp : public CudaOp {
 public:
  ~CudnnOp() override {
    for (auto d : descs_) cudnnDestroyTensorDescriptor(d);
    if (op_) cudnnDestroyOpTensorDescriptor(op_);
    if (act_) cudnnDestroyActivationDescriptor(act_);
    if (reduce_) cudnnDestroyReduceTensorDescriptor(reduce_);
  }
  enum class Kind { kBinary, kUnaryOpTensor, kActivation, kSoftmax, kTransform, kReduce };
  Status build(BuildContext& ctx, const OpGroup& group);
  Status enqueue(const RunContext& rc) override {
    const float zero = 0.0f;
    switch (kind_) {
      case Kind::kBinary:
      case Kind::kUnaryOpTensor:
        return cudnn_status(cudnnOpTensor(rc.cudnn, op_, &alpha1_, descs_[0], a_, &alpha2_, descs_[1], b_, &zero,
                                          descs_[2], y_),
                            name_);
      case Kind::kActivation:
        return cudnn_status(cudnnActivationForward(rc.cudnn, act_, &alpha1_, descs_[0], a_, &zero, descs_[1], y_),
                            name_);
      case Kind::kSoftmax:
        return cudnn_status(cudnnSoftmaxForward(rc.cudnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &alpha1_,
                                                descs_[0], a_, &zero, descs_[1], y_),
                            name_);
      case Kind::kTransform:
        return cudnn_status(cudnnTransformTensor(rc.cudnn, &alpha1_, descs_[0], a_, &zero, descs_[1], y_), name_);
      case Kind::kReduce:
        return cudnn_status(cudnnReduceTensor(rc.cudnn, reduce_, nullptr, 0, rc.workspace, rc.workspace_bytes,
                                              &alpha1_, descs_[0], a_, &zero, descs_[1], y_),
                            name_);
    }
    return internal_error(name_ + ": unknown op kind");
  }

 private:
  Status add_desc(DType dt, const Shape& s, int rank) {
    FERRY_ASSIGN_OR_RETURN(cudnnTensorDescriptor_t d, make_tensor_desc(dt, s, rank));
    descs_.push_back(d);
    return Status::ok();
  }
  Status build_binary(BuildContext& ctx, const Node& n, const DevTensor& y);
  Status build_transpose(const Node& n, const DevTensor& x, const DevTensor& y);

  std::string name_;
  Kind kind_ = Kind::kBinary;
  std::vector<cudnnTensorDescriptor_t> descs_;
  cudnnOpTensorDescriptor_t op_ = nullptr;
  cudnnActivationDescriptor_t act_ = nullptr;
  cudnnReduceTensorDescriptor_t reduce_ = nullptr;
  float alpha1_ = 1.0f, alpha2_ = 1.0f;
  const void *a_ = nullptr, *b_ = nullptr;
  void* y_ = nullptr;
};

Status CudnnOp::build_binary(BuildContext& ctx, const Node& n, const DevTensor& y) {
  const Graph& g = ctx.graph();
  const std::string& op = n.op_type;
  std::string a_name = n.inputs[0], b_name = n.inputs[1];
  Tensor recip;
  float scalar = 0;
  if (op == "Pow") b_name = a_name;  // x^2 = x*x (supports() checked the exponent)
  if (op == "Div") {                 // x / c = x * (1/c)
    const Tensor& c = *constant(g, b_name);
    recip = Tensor::empty(DType::kFloat, c.shape());
    for (int64_t i = 0; i < c.numel(); ++i) recip.data<float>()[i] = 1.0f / c.data<float>()[i];
  }
  (void)scalar;
  Shape as, bs;
  static_shape(g, a_name, &as);
  static_shape(g, b_name, &bs);
  const int rank = static_cast<int>(std::max<size_t>(4, y.shape.size()));
  if (pad_to(as, rank) != pad_to(y.shape, rank)) {  // A broadcasts: swap so the full operand comes first
    std::swap(a_name, b_name);
    std::swap(as, bs);
    if (op == "Sub") {
      alpha1_ = -1.0f;
      alpha2_ = 1.0f;
    }
  } else if (op == "Sub") {
    alpha2_ = -1.0f;
  }
  FERRY_ASSIGN_OR_RETURN(DevTensor a, ctx.value(a_name));
  a_ = a.ptr;
  if (recip.defined() && b_name == n.inputs[1]) {
    FERRY_ASSIGN_OR_RETURN(void* p, ctx.upload_constant(recip, y.dtype));
    b_ = p;
  } else {
    FERRY_ASSIGN_OR_RETURN(DevTensor b, ctx.value(b_name));
    b_ = b.ptr;
  }
  cudnnOpTensorOp_t top = (op == "Mul" || op == "Div" || op == "Pow") ? CUDNN_OP_TENSOR_MUL
                          : op == "Max"                               ? CUDNN_OP_TENSOR_MAX
                          : op == "Min"                               ? CUDNN_OP_TENSOR_MIN
                                                                      : CUDNN_OP_TENSOR_ADD;
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateOpTensorDescriptor(&op_), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetOpTensorDescriptor(op_, top, CUDNN_DATA_FLOAT, CUDNN_PROPAGATE_NAN), name_);
  FERRY_RETURN_IF_ERROR(add_desc(y.dtype, pad_to(as, rank), rank));
  FERRY_RETURN_IF_ERROR(add_desc(y.dtype, pad_to(bs, rank), rank));
  return add_desc(y.dtype, y.shape, rank);
}

Status CudnnOp::build_transpose(const Node& n, const DevTensor& x, const DevTensor& y) {
  const size_t r = x.shape.size();
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty())
    for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
  std::vector<int64_t> in_stride(r, 1);
  for (int i = static_cast<int>(r) - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * x.shape[i + 1];
  const size_t rank = std::max<size_t>(4, r);
  std::vector<int> dims(rank, 1), xs(rank, static_cast<int>(shape_numel(x.shape))), ys(rank, 1);
  for (size_t i = 0; i < r; ++i) {
    dims[rank - r + i] = static_cast<int>(y.shape[i]);
    xs[rank - r + i] = static_cast<int>(in_stride[static_cast<size_t>(perm[i])]);
  }
  int64_t s = 1;
  for (int i = static_cast<int>(rank) - 1; i >= 0; --i) {
    ys[i] = static_cast<int>(s);
    s *= dims[i];
  }
  for (auto* strides : {&xs, &ys}) {
    cudnnTensorDescriptor_t d = nullptr;
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d), name_);
    descs_.push_back(d);
    FERRY_CUDNN_RETURN_IF_ERROR(
        cudnnSetTensorNdDescriptor(d, cudnn_dtype(x.dtype), static_cast<int>(rank), dims.data(), strides->data()),
        name_);
  }
  return Status::ok();
}

Status CudnnOp::build(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  name_ = "node " + group.name();
  const std::string& op = n.op_type;
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  y_ = y.ptr;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" || op == "Min") {
    kind_ = Kind::kBinary;
    return build_binary(ctx, n, y);
  }
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  a_ = x.ptr;
  if (op == "Sqrt") {
    kind_ = Kind::kUnaryOpTensor;
    b_ = x.ptr;
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateOpTensorDescriptor(&op_), name_);
    FERRY_CUDNN_RETURN_IF_ERROR(
        cudnnSetOpTensorDescriptor(op_, CUDNN_OP_TENSOR_SQRT, CUDNN_DATA_FLOAT, CUDNN_PROPAGATE_NAN), name_);
    for (int i = 0; i < 3; ++i) FERRY_RETURN_IF_ERROR(add_desc(y.dtype, y.shape, 4));
    return Status::ok();
  }
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "Clip" || op == "Elu") {
    kind_ = Kind::kActivation;
    cudnnActivationMode_t mode = op == "Relu"      ? CUDNN_ACTIVATION_RELU
                                 : op == "Sigmoid" ? CUDNN_ACTIVATION_SIGMOID
                                 : op == "Tanh"    ? CUDNN_ACTIVATION_TANH
                                 : op == "Elu"     ? CUDNN_ACTIVATION_ELU
                                                   : CUDNN_ACTIVATION_CLIPPED_RELU;
    double coef = op == "Elu" ? n.attr_float("alpha", 1.0f) : 0.0;
    if (op == "Clip") {
      float hi = 0;
      if (n.has_input(2)) constant_scalar(ctx.graph(), n.inputs[2], &hi);
      else hi = n.attr_float("max", 0);
      coef = hi;
    }
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&act_), name_);
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(act_, mode, CUDNN_PROPAGATE_NAN, coef), name_);
    FERRY_RETURN_IF_ERROR(add_desc(y.dtype, x.shape, 4));
    return add_desc(y.dtype, y.shape, 4);
  }
  if (op == "Softmax") {
    kind_ = Kind::kSoftmax;
    const int r = static_cast<int>(x.shape.size());
    int64_t axis = n.attr_int("axis", n.opset >= 13 ? -1 : 1);
    if (axis < 0) axis += r;
    int64_t outer = 1, c = 1, inner = 1;
    for (int i = 0; i < r; ++i) {
      if (i < axis) outer *= x.shape[i];
      else if (i == axis || n.opset < 13) c *= x.shape[i];
      else inner *= x.shape[i];
    }
    FERRY_RETURN_IF_ERROR(add_desc(y.dtype, {outer, c, inner, 1}, 4));
    return add_desc(y.dtype, {outer, c, inner, 1}, 4);
  }
  if (op == "Transpose") {
    kind_ = Kind::kTransform;
    return build_transpose(n, x, y);
  }
  if (op == "ReduceMean") {
    kind_ = Kind::kReduce;
    const int r = static_cast<int>(x.shape.size());
    std::vector<int64_t> axes = n.attr_ints("axes");
    Shape kept = x.shape;
    for (int64_t a : axes) kept[static_cast<size_t>(a < 0 ? a + r : a)] = 1;
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateReduceTensorDescriptor(&reduce_), name_);
    FERRY_CUDNN_RETURN_IF_ERROR(
        cudnnSetReduceTensorDescriptor(reduce_, CUDNN_REDUCE_TENSOR_AVG, CUDNN_DATA_FLOAT, CUDNN_PROPAGATE_NAN,
                                       CUDNN_REDUCE_TENSOR_NO_INDICES, CUDNN_32BIT_INDICES),
        name_);
    FERRY_RETURN_IF_ERROR(add_desc(y.dtype, x.shape, 4));
    FERRY_RETURN_IF_ERROR(add_desc(y.dtype, kept, 4));
    size_t ws = 0;
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnGetReductionWorkspaceSize(ctx.cudnn(), reduce_, descs_[0], descs_[1], &ws), name_);
    if (ws > ctx.workspace_bytes()) return out_of_memory(name_ + ": reduction workspace too large");
    return Status::ok();
  }
  return unsupported(name_ + ": not supported by the CUDA backend");
}

}  // namespace

bool elementwise_supports(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  if (n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0].empty()) return false;
  Shape y;
  if (!static_shape(g, n.outputs[0], &y) || y.size() > 8) return false;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" || op == "Min") {
    if (n.inputs.size() != 2) return false;
    Shape a, b;
    DType bt;
    if (!static_shape(g, n.inputs[0], &a) || !static_shape(g, n.inputs[1], &b, &bt) || bt != DType::kFloat)
      return false;
    if (op == "Pow") {
      float e = 0;
      return constant_scalar(g, n.inputs[1], &e) && e == 2.0f && a == y;
    }
    if (op == "Div") {
      const Tensor* c = constant(g, n.inputs[1]);
      return c && c->dtype() == DType::kFloat && a == y && broadcasts_to(b, y);
    }
    size_t r = std::max<size_t>(4, y.size());
    bool a_full = pad_to(a, r) == pad_to(y, r), b_full = pad_to(b, r) == pad_to(y, r);
    if (a_full) return broadcasts_to(b, y);
    return b_full && broadcasts_to(a, y);
  }
  Shape x;
  if (!static_shape(g, n.inputs[0], &x)) return false;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "Sqrt" || op == "Elu") return x.size() <= 8;
  if (op == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (n.opset >= 11) {
      if (n.has_input(1) && !constant_scalar(g, n.inputs[1], &lo)) return false;
      if (n.has_input(2) && !constant_scalar(g, n.inputs[2], &hi)) return false;
    } else {
      lo = n.attr_float("min", -INFINITY);
      hi = n.attr_float("max", INFINITY);
    }
    return lo == 0.0f && std::isfinite(hi) && hi > 0;
  }
  if (op == "Softmax") return true;
  if (op == "Transpose") return x.size() <= 8;
  if (op == "ReduceMean") {
    if (n.inputs.size() > 1 || n.attr_ints("axes").empty()) return false;  // opset 18 axes input: CPU
    return true;
  }
  return false;
}

Expected<std::unique_ptr<CudaOp>> build_elementwise(BuildContext& ctx, const OpGroup& group) {
  auto op = std::make_unique<CudnnOp>();
  FERRY_RETURN_IF_ERROR(op->build(ctx, group));
  return std::unique_ptr<CudaOp>(std::move(op));
}

}  // namespace ferry::cuda
