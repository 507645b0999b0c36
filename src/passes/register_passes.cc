// register_passes.cc — the one list of optimization passes per level, in the order they run.
#include "passes/pass.h"

namespace ferry {

void add_passes_for_level(PassManager& pm, OptLevel level) {
  if (level == OptLevel::kNone) return;
}

}  // namespace ferry
