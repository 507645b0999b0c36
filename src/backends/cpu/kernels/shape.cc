// shape.cc — CPU reference kernels of the shape family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_shape_kernels(KernelRegistry& r) {}

}  // namespace ferry
