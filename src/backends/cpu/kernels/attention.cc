// attention.cc — CPU reference kernels of the attention family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_attention_kernels(KernelRegistry& r) {}

}  // namespace ferry
