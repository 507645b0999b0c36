// random.cc — op semantics (schemas + shape/dtype inference) of the random family.
#include "ops/op_registry.h"

namespace ferry {

void register_random(OpRegistry& r) {}

}  // namespace ferry
