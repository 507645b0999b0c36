// detection.cc — CPU reference kernels of the detection family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_detection_kernels(KernelRegistry& r) {}

}  // namespace ferry
