// shape.cc — op semantics (schemas + shape/dtype inference) of the shape family.
#include "ops/op_registry.h"

namespace ferry {

void register_shape(OpRegistry& r) {}

}  // namespace ferry
