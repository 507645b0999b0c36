#include <mutex>

#include "backends/cpu/kernel.h"

namespace ferry {

Expected<Tensor*> KernelContext::output(int i) {
  const ValueType& vt = inferred_[static_cast<size_t>(i)];
  if (vt.dtype == DType::kUndefined || !vt.shape.is_concrete())
    return internal_error("node " + node_.display_name() + ": output " + std::to_string(i) +
                          " has no inferred concrete type (" + vt.shape.to_string() + ")");
  return output(i, vt.dtype, vt.shape.to_shape());
}

Tensor* KernelContext::output(int i, DType dtype, const Shape& shape) {
  Tensor& t = (*outputs_)[static_cast<size_t>(i)];
  if (memory_) {
    t = memory_->allocate(i, dtype, shape);
    if (t.defined()) return &t;
  }
  t = Tensor::empty(dtype, shape);
  return &t;
}

namespace {
class FnKernel : public CpuKernel {
 public:
  explicit FnKernel(KernelFn fn) : fn_(fn) {}
  Status run(KernelContext& ctx) override { return fn_(ctx); }

 private:
  KernelFn fn_;
};
}  // namespace

void KernelRegistry::add(const std::string& domain, const std::string& op_type, CpuKernelFactory factory) {
  factories_[domain + "::" + op_type] = std::move(factory);
}

void KernelRegistry::add_fn(const std::string& domain, const std::string& op_type, KernelFn fn) {
  add(domain, op_type, [fn](const Node&) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new FnKernel(fn));
  });
}

const CpuKernelFactory* KernelRegistry::find(const std::string& domain, const std::string& op_type) const {
  std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = factories_.find(d + "::" + op_type);
  return it == factories_.end() ? nullptr : &it->second;
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_all_cpu_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace ferry
