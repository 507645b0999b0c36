// string.cc — CPU reference kernels of the string family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_string_kernels(KernelRegistry& r) {}

}  // namespace ferry
