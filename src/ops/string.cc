// string.cc — op semantics (schemas + shape/dtype inference) of the string family.
#include "ops/op_registry.h"

namespace ferry {

void register_string(OpRegistry& r) {}

}  // namespace ferry
