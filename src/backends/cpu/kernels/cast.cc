// cast.cc — CPU reference kernels of the cast family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_cast_kernels(KernelRegistry& r) {}

}  // namespace ferry
