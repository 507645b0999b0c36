// elementwise.cc — CPU reference kernels of the elementwise family. The kernels live in
// elementwise_unary.cc (math, activations, Clip, Dropout) and elementwise_binary.cc (broadcasting ops).
#include "backends/cpu/kernel.h"

namespace ferry {

void register_elementwise_unary_kernels(KernelRegistry& r);
void register_elementwise_binary_kernels(KernelRegistry& r);

void register_elementwise_kernels(KernelRegistry& r) {
  register_elementwise_unary_kernels(r);
  register_elementwise_binary_kernels(r);
}

}  // namespace ferry
