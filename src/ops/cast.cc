// cast.cc — op semantics (schemas + shape/dtype inference) of the cast family.
#include "ops/op_registry.h"

namespace ferry {

void register_cast(OpRegistry& r) {}

}  // namespace ferry
