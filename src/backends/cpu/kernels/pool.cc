// pool.cc — CPU reference kernels of the pool family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_pool_kernels(KernelRegistry& r) {}

}  // namespace ferry
