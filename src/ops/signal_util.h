// signal_util.h — helpers shared by the signal family's inference (src/ops/signal.cc) and kernels.
//
//   FERRY_ASSIGN_OR_RETURN(int axis, dft_axis(-2, x.rank()));  // the last signal axis (before the complex dim)
#pragma once

#include <string>

#include "ferry/status.h"

namespace ferry {

// DFT axis: negative values count from the back of the full rank (the trailing complex dim included);
// the result must be a signal axis, in [0, rank - 2].
inline Expected<int> dft_axis(int64_t axis, int rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank - 2)
    return invalid_argument("DFT axis " + std::to_string(axis) + " out of range for input rank " +
                            std::to_string(rank) + " (accepted [-r, -2] and [0, r-2])");
  return static_cast<int>(a);
}

}  // namespace ferry
