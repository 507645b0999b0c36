// resize.cc — op semantics (schemas + shape/dtype inference) of the resize family.
#include "ops/op_registry.h"

namespace ferry {

void register_resize(OpRegistry& r) {}

}  // namespace ferry
