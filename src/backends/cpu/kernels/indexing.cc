// indexing.cc — CPU reference kernels of the indexing family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_indexing_kernels(KernelRegistry& r) {}

}  // namespace ferry
