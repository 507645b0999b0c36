// training.cc — CPU reference kernels of the training family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_training_kernels(KernelRegistry& r) {}

}  // namespace ferry
