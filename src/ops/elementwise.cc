// elementwise.cc — op semantics (schemas + shape/dtype inference) of the elementwise family.
#include "ops/op_registry.h"

namespace ferry {

void register_elementwise(OpRegistry& r) {}

}  // namespace ferry
