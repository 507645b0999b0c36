// cuda_ops.cc — shared helpers of the CUDA ops and the per-node dispatch (supports / fuse / build).
#include "backends/cuda/cuda_ops.h"

#include "backends/cuda/cuda_check.h"

namespace ferry::cuda {

std::string OpGroup::name() const {
  std::string s = nodes.front()->display_name();
  for (size_t i = 1; i < nodes.size(); ++i) s += "+" + nodes[i]->op_type;
  return s;
}

DType device_dtype(DType graph_dtype, DType precision) {
  return graph_dtype == DType::kFloat ? precision : graph_dtype;
}

cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::kFloat16: return CUDNN_DATA_HALF;
    case DType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    case DType::kInt32: return CUDNN_DATA_INT32;
    case DType::kInt8: return CUDNN_DATA_INT8;
    case DType::kInt64: return CUDNN_DATA_INT64;
    default: return CUDNN_DATA_FLOAT;
  }
}

bool static_shape(const Graph& g, const std::string& name, Shape* shape, DType* dtype) {
  if (auto it = g.initializers.find(name); it != g.initializers.end()) {
    *shape = it->second.shape();
    if (dtype) *dtype = it->second.dtype();
    return true;
  }
  const ValueType* vt = g.type_of(name);
  if (!vt || !vt->shape.is_concrete()) return false;
  *shape = vt->shape.to_shape();
  if (dtype) *dtype = vt->dtype;
  return true;
}

Expected<cudnnTensorDescriptor_t> make_tensor_desc(DType dtype, const Shape& shape, int min_rank) {
  std::vector<int> dims;
  for (int i = static_cast<int>(shape.size()); i < min_rank; ++i) dims.push_back(1);
  for (int64_t d : shape) {
    if (d > INT32_MAX || d < 0) return unsupported("tensor dim " + std::to_string(d) + " is out of cuDNN's range");
    dims.push_back(static_cast<int>(d));
  }
  if (dims.size() > 8) return unsupported("cuDNN tensors have at most 8 dims, got " + std::to_string(dims.size()));
  std::vector<int> strides(dims.size());
  int64_t s = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    strides[i] = static_cast<int>(s);
    s *= std::max(dims[i], 1);
  }
  if (s > INT32_MAX) return unsupported("tensor of " + std::to_string(s) + " elements is out of cuDNN's range");
  cudnnTensorDescriptor_t desc = nullptr;
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&desc), "tensor descriptor");
  Status st = cudnn_status(cudnnSetTensorNdDescriptor(desc, cudnn_dtype(dtype), static_cast<int>(dims.size()),
                                                      dims.data(), strides.data()),
                           "tensor descriptor " + shape_to_string(shape));
  if (!st.is_ok()) {
    cudnnDestroyTensorDescriptor(desc);
    return st;
  }
  return desc;
}

bool nhwc_capable(const Graph& g, const Node& n) {
  static const char* kOps[] = {"Conv",    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Relu",
                               "Sigmoid", "Tanh",    "Clip",        "Erf",               "Sqrt",          "Exp",
                               "Log",     "Neg",     "Abs",         "LeakyRelu",         "HardSigmoid",   "HardSwish",
                               "Add",     "Sub",     "Mul",         "Div",               "Pow",           "Max",
                               "Min"};
  if (!n.domain.empty()) return false;
  for (const char* op : kOps)
    if (n.op_type == op) return n.op_type == "Conv" || n.op_type.find("Pool") != std::string::npos || kernel_supports(g, n);
  return false;
}

Shape nhwc_order(const Shape& s) { return s.size() == 4 ? Shape{s[0], s[2], s[3], s[1]} : s; }

bool is_alias_op(const Node& n) {
  return n.domain.empty() && (n.op_type == "Reshape" || n.op_type == "Flatten" || n.op_type == "Squeeze" ||
                              n.op_type == "Unsqueeze" || n.op_type == "Identity");
}

bool cuda_supports(const Graph& g, const Node& n) {
  if (!n.domain.empty() && n.domain != "ferry") return false;
  // Every tensor the node touches has a static shape; float data only (the alias ops carry anything).
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    Shape s;
    DType t;
    if (!static_shape(g, n.inputs[i], &s, &t)) return false;
    if (i == 0 && t != DType::kFloat) return false;
  }
  for (const auto& o : n.outputs) {
    Shape s;
    DType t;
    if (o.empty()) continue;
    if (!static_shape(g, o, &s, &t) || t != DType::kFloat) return false;
  }
  if (n.domain == "ferry") return transformer_supports(g, n);
  if (is_alias_op(n)) {
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (!n.inputs[i].empty() && !g.initializers.count(n.inputs[i])) return false;
    return n.outputs.size() == 1 && !n.inputs.empty() && !g.initializers.count(n.inputs[0]);
  }
  return conv_supports(g, n) || pool_supports(g, n) || matmul_supports(g, n) || kernel_supports(g, n) ||
         elementwise_supports(g, n);
}

namespace {

// Readers of `value` among the graph's nodes (graph outputs count as readers that block fusion).
int reader_count(const Graph& g, const std::string& value) {
  int count = 0;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) count += in == value;
  for (const auto& o : g.outputs) count += (o == value) ? 2 : 0;
  return count;
}

}  // namespace

bool can_fuse(const Graph& g, const OpGroup& group, const Node& next) {
  const Node& anchor = *group.nodes.front();
  const Node& last = *group.nodes.back();
  if (!next.domain.empty() || last.outputs.size() != 1 || reader_count(g, last.outputs[0]) != 1) return false;
  bool reads_last = false;
  for (const auto& in : next.inputs) reads_last = reads_last || in == last.outputs[0];
  if (!reads_last) return false;
  bool has_relu = false, has_add = false;
  for (size_t i = 1; i < group.nodes.size(); ++i) {
    has_relu = has_relu || group.nodes[i]->op_type == "Relu" || group.nodes[i]->op_type == "Clip";
    has_add = has_add || group.nodes[i]->op_type == "Add";
  }
  if (has_relu) return false;
  if (anchor.op_type == "Conv") {
    if (next.op_type == "Relu") return true;
    float lo, hi;
    if (next.op_type == "Clip") return conv_clip_bounds(g, next, &lo, &hi);
    if (next.op_type == "Add" && !has_add && next.inputs.size() == 2) {
      // The residual must have the conv output's shape (no broadcasting) and not be the conv output itself.
      const std::string& other = next.inputs[0] == last.outputs[0] ? next.inputs[1] : next.inputs[0];
      if (other == last.outputs[0]) return false;
      Shape a, b;
      return static_shape(g, other, &a) && static_shape(g, last.outputs[0], &b) && a == b;
    }
    return false;
  }
  if (anchor.op_type == "Gemm" || anchor.op_type == "MatMul") return next.op_type == "Relu" && group.nodes.size() == 1;
  return false;
}

Expected<std::unique_ptr<CudaOp>> build_cuda_op(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  const Graph& g = ctx.graph();
  if (n.domain == "ferry") return build_transformer_op(ctx, group);
  if (conv_supports(g, n)) return build_conv(ctx, group);
  if (pool_supports(g, n)) return build_pool(ctx, group);
  if (matmul_supports(g, n)) return build_matmul(ctx, group);
  if (kernel_supports(g, n)) return build_kernel_op(ctx, group);
  if (elementwise_supports(g, n)) return build_elementwise(ctx, group);
  return unsupported("node " + n.display_name() + ": not supported by the CUDA backend");
}

}  // namespace ferry::cuda
