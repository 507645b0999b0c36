// control_flow.cc — CPU reference kernels of the control_flow family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_control_flow_kernels(KernelRegistry& r) {}

}  // namespace ferry
