// quant.cc — CPU reference kernels of the quant family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_quant_kernels(KernelRegistry& r) {}

}  // namespace ferry
