// norm.cc — op semantics (schemas + shape/dtype inference) of the norm family.
#include "ops/op_registry.h"

namespace ferry {

void register_norm(OpRegistry& r) {}

}  // namespace ferry
