// matmul.cc — CPU reference kernels of the matmul family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_matmul_kernels(KernelRegistry& r) {}

}  // namespace ferry
