// conv.cc — op semantics (schemas + shape/dtype inference) of the conv family.
#include "ops/op_registry.h"

namespace ferry {

void register_conv(OpRegistry& r) {}

}  // namespace ferry
