// signal.cc — CPU reference kernels of the signal family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_signal_kernels(KernelRegistry& r) {}

}  // namespace ferry
