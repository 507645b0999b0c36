// random.cc — CPU reference kernels of the random family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_random_kernels(KernelRegistry& r) {}

}  // namespace ferry
