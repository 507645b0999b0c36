// reduce.cc — CPU reference kernels of the reduce family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_reduce_kernels(KernelRegistry& r) {}

}  // namespace ferry
