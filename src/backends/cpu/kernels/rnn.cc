// rnn.cc — CPU reference kernels of the rnn family.
#include "backends/cpu/kernel.h"

namespace ferry {

void register_rnn_kernels(KernelRegistry& r) {}

}  // namespace ferry
