// softmax.cc — CPU reference kernels of the softmax family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_softmax_kernels(KernelRegistry& r) {}

}  // namespace ferry
