// ml.cc — CPU reference kernels of the ml family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_ml_kernels(KernelRegistry& r) {}

}  // namespace ferry
