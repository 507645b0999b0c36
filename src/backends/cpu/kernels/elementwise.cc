// elementwise.cc — CPU reference kernels of the elementwise family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_elementwise_kernels(KernelRegistry& r) {}

}  // namespace ferry
