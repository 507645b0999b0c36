// resize_util.h — declarations shared by the resize family's kernel files (resize.cc registers all of them).
#pragma once

#include "backends/cpu/kernel.h"

namespace ferry {

// GridSample, AffineGrid and RoiAlign (resize_sample.cc).
void register_resize_sample_kernels(KernelRegistry& r);

}  // namespace ferry
